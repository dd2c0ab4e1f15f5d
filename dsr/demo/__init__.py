"""The demo data of ``manage.py seed_demo``, made through Custos's own services."""

from django.dispatch import Signal

# Sent by seed_demo once its data is in, with ``users`` (username -> user, and "agents"): the apps
# above dsr, which seed_demo may not import, add their demo data from it.
demo_seeded = Signal()
