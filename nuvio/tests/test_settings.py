import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from nuvio.env import env_bool, env_int, parse_refund_tiers, parse_throttle_rates

ROOT = Path(__file__).resolve().parents[2]


def test_refund_tiers_parse_and_sort():
    assert parse_refund_tiers("2:50,7:100,0:0") == [(7, 100), (2, 50), (0, 0)]


@pytest.mark.parametrize("raw", ["", "7-100", "7:101", "-1:50", "x:50", "7:100,7:50", "7:99.5"])
def test_bad_refund_tiers_refused(raw):
    with pytest.raises(ImproperlyConfigured):
        parse_refund_tiers(raw)


def test_throttle_rates_parse():
    assert parse_throttle_rates("auth=5/min, write=1000/second") == {
        "auth": "5/min",
        "write": "1000/second",
    }


@pytest.mark.parametrize("raw", ["auth=5", "auth=x/min", "nope=5/min", "read=0/min", "read=5/week"])
def test_bad_throttle_rates_refused(raw):
    with pytest.raises(ImproperlyConfigured):
        parse_throttle_rates(raw)


def test_env_bool_and_int_fail_loudly(monkeypatch):
    monkeypatch.setenv("NUVIO_X", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("NUVIO_X")
    monkeypatch.setenv("NUVIO_X", "12a")
    with pytest.raises(ImproperlyConfigured):
        env_int("NUVIO_X", 1)
    monkeypatch.setenv("NUVIO_X", "TRUE")
    assert env_bool("NUVIO_X") is True


def _settings_in_subprocess(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "NUVIO_"))}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CACHES['default']['BACKEND'], "
        "s.CELERY_TASK_ALWAYS_EAGER, s.DATABASES['default'].get('CONN_MAX_AGE'), "
        "s.NUVIO_HOLD_SECONDS, s.NUVIO_CURRENCY)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "nuvio.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_embedded_mode_is_the_default():
    result = _settings_in_subprocess()
    assert result.returncode == 0, result.stderr
    engine, cache, eager, _, hold, currency = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert cache.endswith("LocMemCache")
    assert eager == "True"
    assert (hold, currency) == ("900", "INR")


def test_production_mode_from_urls():
    result = _settings_in_subprocess(
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/nuvio",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DJANGO_SECRET_KEY="a-real-secret-for-this-test-only-1234567890",
        NUVIO_HOLD_SECONDS="60",
    )
    assert result.returncode == 0, result.stderr
    engine, cache, eager, conn_max_age, hold, _ = result.stdout.split()
    assert engine == "nuvio.db"  # Django's PostgreSQL backend, cheaper health check
    assert cache == "django_redis.cache.RedisCache"
    assert eager == "False"
    assert int(conn_max_age) > 0
    assert hold == "60"


def test_production_mode_refuses_the_dev_secret_key():
    result = _settings_in_subprocess(DATABASE_URL="postgres://postgres@127.0.0.1:5432/nuvio")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_bad_setting_stops_start():
    result = _settings_in_subprocess(NUVIO_HOLD_SECONDS="soon")
    assert result.returncode != 0
    assert "NUVIO_HOLD_SECONDS" in result.stderr
