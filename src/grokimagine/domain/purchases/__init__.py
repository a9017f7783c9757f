"""Money in: credit packs sold through Stripe Checkout, Stripe's webhook events, redemption
codes. Above ``billing`` (whose ledger it writes) and ``accounts`` (whose audit log it writes)."""
