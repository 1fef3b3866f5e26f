"""How precise each kind of number is, decided here once and used everywhere in Trading.

- **Money** (cash, P&L, commissions, equity, market values, what orders hold back) is kept on
  its currency's minor unit: cents for USD (`MINOR_UNITS`, 2 places for a currency it does not
  list). It is rounded where it arises: a fill's cash amount, its commission and the P&L it
  realises are each rounded once, so every total is an exact sum of figures already shown, and
  reads the same in every endpoint. Rounding is half up (`MONEY_ROUNDING`), as brokers round a
  trade's amount on a statement and as the commission was already rounded: a trader checking a
  figure by hand gets the same cent; half-even's freedom from bias matters for sums of rounded
  halves, and the totals here are exact sums, so there is nothing for it to correct.
- **Average prices** (a position's average entry, an order's average fill) to 6 decimal places
  (`AVERAGE_PRICE_STEP`), as precise as a limit or stop price can be given.
- **Quantities** to the asset's step (`qty_step`): what the listing says, else the asset
  class's (`QTY_STEPS`): fractional equities to 9 places as Alpaca trades them, crypto to
  1e-8 (a satoshi); a listing with a step of 1 trades whole units only.
- **Prices from bars** arrive as floats from the lake: `decimal_from_float` is the one place
  they become decimals, to 8 decimal places (the smallest bar price the platform accepts is
  1e-8), so 187.13 is 187.13 and never 187.12999999999999545.
- **In JSON** every decimal is written out in plain notation (`PlainNumbers`): "0.00000001",
  never "1E-8"; zero money is "0.00".
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, field_serializer

ACCOUNT_CURRENCY = "USD"  # paper accounts hold US dollars, as Alpaca's do
# ISO 4217 minor units of the currencies an account may come to hold; any other has 2.
MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "HKD": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
}
DEFAULT_MINOR_UNITS = 2
MONEY_ROUNDING = ROUND_HALF_UP

AVERAGE_PRICE_STEP = Decimal("0.000001")
RATIO_STEP = Decimal("0.000001")  # unrealized_plpc and other ratios

FRACTIONAL_QTY_STEP = Decimal("0.000000001")
QTY_STEPS: dict[str, Decimal] = {
    "us_equity": FRACTIONAL_QTY_STEP,
    "crypto": Decimal("0.00000001"),
}
DEFAULT_QTY_STEP = FRACTIONAL_QTY_STEP

BAR_PRICE_STEP = Decimal("0.00000001")


def minor_unit(currency: str = ACCOUNT_CURRENCY) -> Decimal:
    """The smallest amount of `currency`: 0.01 for USD, 1 for JPY."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, DEFAULT_MINOR_UNITS))


def money(value: Decimal, currency: str = ACCOUNT_CURRENCY) -> Decimal:
    """An amount of `currency` on its minor unit (half up): 39865.60000003324 -> 39865.60."""
    return value.quantize(minor_unit(currency), rounding=MONEY_ROUNDING) + 0  # + 0: no "-0.00"


def average_price(notional: Decimal, qty: Decimal) -> Decimal:
    """notional / qty to AVERAGE_PRICE_STEP; 0 for no quantity."""
    if not qty:
        return Decimal(0)
    return plain((notional / qty).quantize(AVERAGE_PRICE_STEP, rounding=ROUND_HALF_EVEN))


def ratio(value: Decimal) -> Decimal:
    return plain(value.quantize(RATIO_STEP, rounding=ROUND_HALF_EVEN))


def qty_step(asset_class: str, listed: Decimal | None = None) -> Decimal:
    """The quantity step of an asset: its listing's, else its asset class's."""
    return listed if listed is not None else QTY_STEPS.get(asset_class, DEFAULT_QTY_STEP)


def quantity(value: Decimal, step: Decimal = DEFAULT_QTY_STEP) -> Decimal:
    """`value` down to a whole number of `step`s (a notional order never buys more than its
    amount), in plain form: 5.343862555, 10, 0."""
    return plain((value / step).to_integral_value(rounding=ROUND_DOWN) * step)


def on_step(value: Decimal, step: Decimal) -> bool:
    """Whether `value` is a whole number of `step`s."""
    return value % step == 0


def plain(value: Decimal) -> Decimal:
    """The same number with no exponent and no trailing zeros: 1E+3 -> 1000, 0E-9 -> 0."""
    return without_exponent(value.normalize())


def without_exponent(value: Decimal) -> Decimal:
    """The same number as people write it, trailing zeros kept: 1E+3 -> 1000, 500.50 stays."""
    return Decimal(format(value, "f"))


def decimal_from_float(value: float | None) -> Decimal:
    """A price or volume read from the lake (a float) as the decimal it was meant to be."""
    # repr is the shortest text that reads back as the same float (187.13, not 187.1299...);
    # 8 places then drop the noise a computed float may still carry (0.30000000000000004).
    exact = Decimal(repr(float(value or 0.0)))
    return plain(exact.quantize(BAR_PRICE_STEP, rounding=ROUND_HALF_EVEN))


def decimal_text(value: Decimal) -> str:
    """A decimal as JSON carries it: plain notation, never an exponent."""
    return format(value, "f")


class PlainNumbers(BaseModel):
    """Writes every decimal field (and decimal values of a dict field) in plain notation in
    JSON: "0.00000001" and "1000", where pydantic would write "1E-8" and "1E+3". Lossless: the
    stored views of aggregates use it too."""

    @field_serializer("*", mode="wrap", when_used="json")
    def _plain_decimals(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        if isinstance(value, Decimal):
            return decimal_text(value)
        if isinstance(value, dict) and value and all(isinstance(v, Decimal) for v in value.values()):
            return {k: decimal_text(v) for k, v in value.items()}
        return handler(value)


FILL_MONEY = ("commission", "realized_pl")
FILL_NUMBERS = ("qty", "price")


def shown_fill(record: dict[str, Any]) -> dict[str, Any]:
    """A fill record with its money as money and its quantity and price in plain notation, as
    every endpoint shows them (records kept before money was rounded included)."""
    money_fields = {k: decimal_text(money(Decimal(record[k]))) for k in FILL_MONEY if k in record}
    numbers = {k: decimal_text(plain(Decimal(record[k]))) for k in FILL_NUMBERS if k in record}
    return {**record, **money_fields, **numbers}
