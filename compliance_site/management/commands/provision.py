"""``manage.py provision``: bring the role groups and beat's periodic tasks up to date."""

from django.core.management.base import BaseCommand

from compliance_site.provisioning import provision


class Command(BaseCommand):
    help = "Create or update the staff role groups and Celery beat's periodic tasks (idempotent)."

    def handle(self, *args, **options):
        provision()
        self.stdout.write(self.style.SUCCESS("Roles and periodic tasks are up to date."))
