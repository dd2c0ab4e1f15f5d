"""The DSR desk: data-subject requests from intake to the subject's answer (Art. 12-22).

Where things live:
- ``services``: a request's intake (``request_create``): what enters the desk.
- ``deadlines``: the due date and the extension limit, as dates (Reg. 1182/71 Art. 3).
- ``reminders``: the deadline reminders beat sends, as an outbox retried until sent or given up.
- ``workflow``: a request's life once registered: matching, identity, assignment, extension,
  status transitions, four-eyes approval and completion, with the rules the request page asks
  before it offers a step (``completion_refusal``, ``approval_refusal``).
- ``rights``: what each right does to the data (``restriction_execute`` …) and its preview;
  ``erasure``: erasing a subject, the one place that says what an erasure reaches.
- ``jobs``: the long work (package builds, erasures) on Celery workers, with its progress.
- ``packages`` and ``letters``: the subject's package (Art. 15, 20) and the letters to them;
  ``package_information``: the package's Art. 15(1)-(2) information, from the actual shares.
- ``selectors``: every read that carries a rule (``requests_visible_to`` …).
- ``admin``, ``admin_actions``, ``views``, ``api``: the pages and endpoints, which call the above.
"""
