"""Money: the price table, quotes, the credits ledger, plans and grants, a task's money, usage."""
