"""Shared fixtures: personas (staff, customer, outsider) with API clients."""

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True, scope="session")
def _tasks_run_in_process():
    # Tests run Celery tasks in-process (as the embedded mode does), whatever
    # the broker: a test asserts a task's effect, not the queue's delivery.
    from nuvio.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _fast_and_clean(settings):
    # A fast hasher in tests only; production keeps Django's default (PBKDF2).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _clear_cache()
    yield
    _clear_cache()


def _clear_cache():
    if settings.REDIS_URL:
        # Only this project's keys: the same Redis may hold the broker's queues.
        cache.delete_pattern("*")
    else:
        cache.clear()


def _make_user(django_user_model, email, name, **extra):
    return django_user_model.objects.create_user(email=email, password=PASSWORD, name=name, **extra)


def _client_for(user):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def staff(django_user_model):
    return _make_user(django_user_model, "staff@example.com", "Stella Staff", is_staff=True)


@pytest.fixture
def customer(django_user_model):
    return _make_user(django_user_model, "customer@example.com", "Cara Customer")


@pytest.fixture
def outsider(django_user_model):
    return _make_user(django_user_model, "outsider@example.com", "Otto Outsider")


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def staff_api(staff):
    return _client_for(staff)


@pytest.fixture
def customer_api(customer):
    return _client_for(customer)


@pytest.fixture
def outsider_api(outsider):
    return _client_for(outsider)
