"""The QA reviews' admin: each part registers its own module here."""

from reviews.admin import evaluations  # noqa: F401 - registers the evaluations' admin
