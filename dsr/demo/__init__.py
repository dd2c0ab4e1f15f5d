"""The demo data of ``manage.py seed_demo``, made through Custos's own services."""
