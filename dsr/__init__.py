"""The DSR desk: data-subject requests from intake to the subject's answer (Art. 12-22).

Where things live:
- ``services``: a request's intake and the deadline reminders (``request_create``,
  ``reminders_send``): what enters the desk and what beat sends about it.
- ``workflow``: a request's life once registered: matching, identity, assignment, extension,
  status transitions, four-eyes approval and completion, with the rules the request page asks
  before it offers a step (``completion_refusal``, ``approval_refusal``).
- ``rights``: what each right does to the data (``restriction_execute`` …) and its preview;
  ``erasure``: erasing a subject, the one place that says what an erasure reaches.
- ``jobs``: the long work (package builds, erasures) on Celery workers, with its progress.
- ``packages`` and ``letters``: the subject's package (Art. 15, 20) and the letters to them.
- ``selectors``: every read that carries a rule (``requests_visible_to`` …).
- ``admin``, ``admin_actions``, ``views``, ``api``: the pages and endpoints, which call the above.
"""
