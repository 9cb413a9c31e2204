import pytest

from analytics.tests.helpers import build_world


@pytest.fixture
def world(customer, outsider, time_machine, settings, django_capture_on_commit_callbacks):
    return build_world(
        customer=customer,
        outsider=outsider,
        time_machine=time_machine,
        settings=settings,
        capture=django_capture_on_commit_callbacks,
    )


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer)
    return client
