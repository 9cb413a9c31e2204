from django import template

register = template.Library()


@register.filter
def percent(fraction) -> str:
    """0.4567 -> "45.7 %" (rates are fractions 0-1)."""
    try:
        return f"{float(fraction) * 100:.1f} %"
    except (TypeError, ValueError):
        return ""
