from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

STAFF = ("staff@nuvio.test", "Sam Staff", "staff-demo-pass")
CUSTOMERS = [
    ("alice@nuvio.test", "Alice Fernandes", "alice-demo-pass"),
    ("bob@nuvio.test", "Bob Mehta", "bob-demo-pass"),
    ("chen@nuvio.test", "Chen Li", "chen-demo-pass"),
]


class Command(BaseCommand):
    help = (
        "Create demo data: a staff account and a few customers with known passwords "
        "(printed). Safe to run again: existing demo rows are updated, not duplicated."
    )

    @transaction.atomic
    def handle(self, *args, **options):
        accounts = [(*STAFF, True)] + [(*customer, False) for customer in CUSTOMERS]
        for email, name, password, is_staff in accounts:
            user, created = User.objects.get_or_create(email=email, defaults={"name": name})
            user.name, user.is_staff, user.is_superuser = name, is_staff, is_staff
            user.set_password(password)
            user.save()
            self.stdout.write(f"{'created' if created else 'updated'} {email}")
        self.stdout.write(self.style.SUCCESS("\nDemo logins (e-mail / password):"))
        for email, _, password, is_staff in accounts:
            role = "staff" if is_staff else "customer"
            self.stdout.write(f"  {role:9} {email:22} {password}")
