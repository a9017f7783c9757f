"""The operator's price table: the default keeps the reference figure, and every malformed entry
is refused with its name."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grokimagine.cli import main
from grokimagine.domain.billing.price_table import (
    DEFAULT_TABLE,
    NoPriceError,
    PriceQuery,
    PriceTableError,
    load_price_table,
    parse_price_table,
    price_of,
    price_table,
)
from grokimagine.domain.billing.quotes import quote
from grokimagine.domain.operator.business_settings import check_business_settings
from grokimagine.settings import Settings

CUSTOM = {
    "default": {
        "480p": {"base": 0, "per_second": "6.5"},
        "720p": {"tiers": {"6": 60, "10": 100, "15": 150}},
    },
    "engines": {"xai": {"720p": {"per_second": 10}}},
}


def test_the_default_table_keeps_the_reference_price_and_follows_length_and_size() -> None:
    assert price_of(DEFAULT_TABLE, PriceQuery("480p", 6)) == 40
    assert price_of(DEFAULT_TABLE, PriceQuery("480p", 6, videos=3)) == 120
    assert price_of(DEFAULT_TABLE, PriceQuery("720p", 10)) == 94
    assert price_of(DEFAULT_TABLE, PriceQuery("480p", 1)) == 10
    # Test keys are never charged, whatever the table says.
    assert quote(False, 94, 4, 10, "720p").price == 0  # test keys are never charged
    assert quote(True, 94, 4, 10, "720p").price == 376


def test_tiers_decimals_and_engine_rules() -> None:
    table = parse_price_table(CUSTOM)
    assert price_of(table, PriceQuery("480p", 3)) == 20  # 19.5 rounded up
    assert price_of(table, PriceQuery("480p", 6)) == 39
    assert price_of(table, PriceQuery("720p", 1)) == 60
    assert price_of(table, PriceQuery("720p", 7)) == 100
    assert price_of(table, PriceQuery("720p", 15, videos=2)) == 300
    with pytest.raises(NoPriceError):
        price_of(table, PriceQuery("720p", 16))
    # xai's own 720p rule; its 480p falls back to the default rule.
    assert price_of(table, PriceQuery("720p", 10, engine="xai")) == 100
    assert price_of(table, PriceQuery("720p", 7, engine="xai")) == 70
    assert price_of(table, PriceQuery("480p", 6, engine="xai")) == 39
    assert table.describe()["engines"]["xai"] == {"720p": {"base": 0, "per_second": 10}}


@pytest.mark.parametrize(
    ("table", "culprit"),
    [
        ({"engines": {}}, "default: missing"),
        ({"default": {"480p": {"per_second": 6}}}, "default: no rule for 720p"),
        ({"default": {"1080p": {"per_second": 6}}}, "default.1080p: unknown resolution"),
        (
            {"default": {"480p": {"per_second": -1}, "720p": {"per_second": 1}}},
            "default.480p.per_second",
        ),
        (
            {"default": {"480p": {"per_second": "abc"}, "720p": {"per_second": 1}}},
            "default.480p.per_second",
        ),
        (
            {"default": {"480p": {"per_second": 1, "base": 2.5}, "720p": {"per_second": 1}}},
            "default.480p.base",
        ),
        (
            {"default": {"480p": {"per_second": 1}, "720p": {"tiers": {"ten": 3}}}},
            "default.720p.tiers.ten",
        ),
        (
            {"default": {"480p": {"per_second": 1}, "720p": {"tiers": {}}}},
            "default.720p.tiers",
        ),
        (
            {"default": {"480p": {"per_second": 1, "tiers": {"6": 1}}, "720p": {"per_second": 1}}},
            "default.480p: give either",
        ),
        (
            {
                "default": {"480p": {"per_second": 1}, "720p": {"per_second": 1}},
                "engines": {"xai": {"720p": {"per_sec": 1}}},
            },
            "engines.xai.720p.per_sec: unknown key",
        ),
        ({"default": {}, "price": 1}, "unknown key 'price'"),
        ([1, 2], "must be an object"),
    ],
)
def test_a_malformed_table_names_its_culprit(table: object, culprit: str) -> None:
    with pytest.raises(PriceTableError, match=culprit.replace(".", r"\.").replace("'", "'")):
        parse_price_table(table)


def test_the_table_comes_from_json_text_a_json_file_or_a_toml_file(tmp_path: Path) -> None:
    assert load_price_table(None) is DEFAULT_TABLE
    assert load_price_table(json.dumps(CUSTOM)) == parse_price_table(CUSTOM)
    json_file = tmp_path / "prices.json"
    json_file.write_text(json.dumps(CUSTOM))
    assert load_price_table(str(json_file)) == parse_price_table(CUSTOM)
    toml_file = tmp_path / "prices.toml"
    toml_file.write_text(
        '[default."480p"]\nbase = 0\nper_second = "6.5"\n'
        '[default."720p".tiers]\n6 = 60\n10 = 100\n15 = 150\n'
        '[engines.xai."720p"]\nper_second = 10\n'
    )
    assert load_price_table(str(toml_file)) == parse_price_table(CUSTOM)
    with pytest.raises(PriceTableError, match="not valid JSON"):
        load_price_table("{nope")
    with pytest.raises(PriceTableError, match="cannot read"):
        load_price_table(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("[default\n")
    with pytest.raises(PriceTableError, match=r"broken\.toml"):
        load_price_table(str(broken))


def test_a_bad_table_stops_the_start_with_the_variable_and_the_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "GROKIMAGINE_PRICING_TABLE", '{"default": {"480p": {"per_second": 1}, "720p": {}}}'
    )
    with pytest.raises(ValueError, match=r"GROKIMAGINE_PRICING_TABLE: default\.720p\.per_second"):
        check_business_settings(Settings())
    # The command line refuses to start with it, and says why.
    monkeypatch.setenv("GROKIMAGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GROKIMAGINE_DATABASE_URL", raising=False)
    assert main(["accounts", "list"]) == 1
    monkeypatch.setenv("GROKIMAGINE_PRICING_TABLE", json.dumps(CUSTOM))
    monkeypatch.setenv("GROKIMAGINE_PRICING_USD_PER_CREDIT", "0.02")
    settings = Settings()
    assert settings.pricing.usd_per_credit == Decimal("0.02")
    assert price_table(settings) == parse_price_table(CUSTOM)


@given(
    base=st.integers(0, 1000),
    per_second=st.decimals(0, 1000, places=3),
    seconds=st.integers(1, 59),
    videos=st.integers(1, 4),
)
def test_prices_are_whole_never_below_the_exact_figure_and_grow_with_length(
    base: int, per_second: Decimal, seconds: int, videos: int
) -> None:
    table = parse_price_table(
        {
            "default": {
                "480p": {"base": base, "per_second": str(per_second)},
                "720p": {"per_second": 1},
            }
        }
    )
    one = price_of(table, PriceQuery("480p", seconds))
    assert one >= base + per_second * seconds > one - 1
    assert price_of(table, PriceQuery("480p", seconds + 1)) >= one
    assert price_of(table, PriceQuery("480p", seconds, videos=videos)) == one * videos
