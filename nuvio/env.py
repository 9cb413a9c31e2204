"""Small typed readers for settings that come from the environment.

Each one fails loudly (ImproperlyConfigured) on a value it cannot parse, so a
typo in production stops the process at start instead of changing behaviour.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: str) -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_refund_tiers(raw: str) -> list[tuple[int, int]]:
    """Parse ``"7:100,2:50,0:0"`` into ``[(7, 100), (2, 50), (0, 0)]``.

    Each pair is *days before the start : percent refunded*. The result is
    sorted by days, descending; a tier applies when the booking is cancelled
    *more than* that many days before the start (the ``0`` tier catches the
    rest). Percentages are whole numbers 0-100.
    """
    tiers: list[tuple[int, int]] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            days_raw, percent_raw = part.split(":")
            days, percent = int(days_raw), int(percent_raw)
        except ValueError:
            raise ImproperlyConfigured(
                f"NUVIO_REFUND_TIERS: {part!r} is not 'days:percent'"
            ) from None
        if days < 0 or not (0 <= percent <= 100):
            raise ImproperlyConfigured(
                f"NUVIO_REFUND_TIERS: {part!r} needs days >= 0 and percent 0-100"
            )
        tiers.append((days, percent))
    if not tiers:
        raise ImproperlyConfigured("NUVIO_REFUND_TIERS must name at least one tier")
    tiers.sort(key=lambda tier: tier[0], reverse=True)
    if len({days for days, _ in tiers}) != len(tiers):
        raise ImproperlyConfigured("NUVIO_REFUND_TIERS names the same day count twice")
    return tiers


THROTTLE_SCOPES = ("auth", "register", "write", "read")
_THROTTLE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def parse_throttle_rates(raw: str) -> dict[str, str]:
    """Parse ``"auth=10/min,write=120/min"`` into DRF's ``DEFAULT_THROTTLE_RATES``."""
    rates: dict[str, str] = {}
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        scope, _, rate = part.partition("=")
        scope, rate = scope.strip(), rate.strip()
        num, _, period = rate.partition("/")
        if scope not in THROTTLE_SCOPES:
            raise ImproperlyConfigured(
                f"NUVIO_THROTTLE_RATES: unknown scope {scope!r} "
                f"(known: {', '.join(THROTTLE_SCOPES)})"
            )
        if not num.isdigit() or int(num) < 1 or period not in _THROTTLE_PERIODS:
            raise ImproperlyConfigured(
                f"NUVIO_THROTTLE_RATES: {part!r} is not 'scope=N/second|minute|hour|day'"
            )
        rates[scope] = f"{int(num)}/{period}"
    return rates
