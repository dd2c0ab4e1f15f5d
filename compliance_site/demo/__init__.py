"""Demo data that looks and sounds like the product's real input (``manage.py seed_demo``)."""
