"""The price table is checked whole at start-up (issue 21): a table that passes never makes a
price endpoint fail, and a table that cannot pass is refused with a named error, never a
traceback."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from grokimagine.domain.accounts.accounts import Principal
from grokimagine.domain.billing.price_table import (
    MAX_CREDITS_PER_VIDEO,
    PriceTableError,
    load_price_table,
    price_table,
)
from grokimagine.domain.operator.business_settings import check_business_settings
from grokimagine.domain.submission.generate import price_list
from grokimagine.engines.routing import EngineRouter
from grokimagine.settings import Settings
from grokimagine.vocabulary import PLAN_NAMES, RESOLUTIONS
from tests.helpers.admin import app_with
from tests.helpers.customers import make_customer

numbers = st.one_of(
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=-5, max_value=2 * MAX_CREDITS_PER_VIDEO),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["6.5", "1e999999", "-1", "NaN", "Infinity", "1e-999999", True, None, "x"]),
)
tier_seconds = st.one_of(
    st.integers(min_value=1, max_value=12).map(str),
    st.sampled_from(["0", "٦", " 6", "1_0", "3601", "9" * 5000, "x"]),
)
# Rules that price every duration the preview engine takes (1 to 10 s), so that many tables
# pass start-up and the pricing page is exercised on them.
covering = st.one_of(
    st.fixed_dictionaries(
        {
            "base": st.integers(min_value=0, max_value=50),
            "per_second": st.integers(0, 20) | st.decimals(0, 20, places=2).map(str),
        }
    ),
    st.dictionaries(
        st.integers(min_value=1, max_value=12).map(str), st.integers(0, 500), max_size=3
    ).map(lambda tiers: {"tiers": {**tiers, "10": 99}}),
)
rules = st.one_of(
    covering,
    covering,
    st.fixed_dictionaries({"base": numbers, "per_second": numbers}),
    st.fixed_dictionaries({"per_second": numbers}),
    st.fixed_dictionaries(
        {"tiers": st.dictionaries(tier_seconds, numbers, min_size=1, max_size=4)}
    ),
    st.fixed_dictionaries(
        {
            "tiers": st.dictionaries(
                st.integers(min_value=1, max_value=12).map(str),
                st.integers(min_value=0, max_value=500),
                min_size=1,
                max_size=4,
            )
        }
    ),
)
per_resolution = st.dictionaries(st.sampled_from([*RESOLUTIONS, "1080p"]), rules, max_size=3)
tables = st.fixed_dictionaries(
    {"default": st.fixed_dictionaries({name: rules for name in RESOLUTIONS}) | per_resolution},
    optional={
        "engines": st.dictionaries(st.sampled_from(["preview", "xai"]), per_resolution, max_size=2),
        "extend": per_resolution,
        "edit": st.dictionaries(st.sampled_from([*RESOLUTIONS, "4k"]), numbers, max_size=2),
    },
)
PRINCIPALS = [
    Principal("acct_x", "key_x", plan, allow_spicy=spicy, live=live)
    for plan in PLAN_NAMES
    for spicy in (False, True)
    for live in (False, True)
]


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=tables)
def test_a_table_that_passes_start_up_never_fails_a_price_endpoint(
    base_settings: Settings, raw: dict
) -> None:
    configured = base_settings.replace(pricing_table=json.dumps(raw))
    try:
        check_business_settings(configured)  # what create_app, serve and worker run first
    except PriceTableError as exc:
        assert str(exc).startswith("GROKIMAGINE_PRICING_TABLE: ")
        event("refused at start")
        return
    event("passed start-up")
    services = SimpleNamespace(settings=configured, router=EngineRouter(configured))
    for principal in PRINCIPALS:
        listed = price_list(services, principal)  # GET /v1/pricing's whole answer
        json.dumps(listed)
        for mode in listed["modes"].values():
            for seconds in mode["durations"]:
                for resolution in mode["resolutions"]:
                    price = price_table(configured).price_per_video(resolution, seconds, "preview")
                    assert 0 <= price <= MAX_CREDITS_PER_VIDEO
            if mode["edit"] is not None:
                assert all(type(price) is int for price in mode["edit"]["prices"].values())


@settings(max_examples=200, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.integers(min_value=1, max_value=3000).map(lambda depth: "{" + '"a":[' * depth),
        st.integers(min_value=1, max_value=100_000).map(lambda depth: "[" * depth),
        st.just('{"default": {"480p": {"per_second": ' + "9" * 5000 + "}}}"),
        tables.map(json.dumps),
    )
)
def test_any_table_text_loads_or_is_refused_with_a_named_error(text: str) -> None:
    try:
        load_price_table(text if text.strip().startswith("{") else "{" + text)
    except PriceTableError as exc:
        assert str(exc)


def test_a_gap_and_an_overflow_are_named_at_start(base_settings: Settings) -> None:
    gap = {"default": {"480p": {"per_second": 6}, "720p": {"per_second": 9}}, "edit": {}}
    gap["engines"] = {"preview": {"720p": {"tiers": {"4": 30, "10": 60}}}}
    gap["extend"] = {"480p": {"tiers": {"5": 10}}}
    with pytest.raises(PriceTableError, match="no price for extending by 6 s at 480p on preview"):
        check_business_settings(base_settings.replace(pricing_table=json.dumps(gap)))
    huge = {"default": {"480p": {"per_second": "1e999999"}, "720p": {"per_second": 9}}}
    with pytest.raises(PriceTableError, match=r"default\.480p\.per_second: must be a number"):
        check_business_settings(base_settings.replace(pricing_table=json.dumps(huge)))


async def test_pricing_answers_on_a_tiered_table_that_passed_start_up(settings: Settings) -> None:
    tiers = {"tiers": {"4": 20, "10": 50}}
    table = {"default": {"480p": tiers, "720p": tiers}, "extend": {"480p": {"tiers": {"10": 5}}}}
    async with app_with(settings, pricing_table=json.dumps(table)) as (services, client):
        customer = await make_customer(services)
        response = await client.get("/v1/pricing", headers=customer.headers)
        assert response.status_code == 200, response.text
        normal = response.json()["data"]["modes"]["normal"]
        assert normal["prices"]["480p"] == tiers and normal["edit"]["prices"]["480p"] == 50
