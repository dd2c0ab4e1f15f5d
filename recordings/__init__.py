"""Recordings: data subjects, their calls, and what makes keeping a call lawful.

Subpackages name the concepts, each with its writes in ``services`` where it has any: ``models``
(the tables), ``vault`` (keys, encryption at rest, storage), ``playback`` (serving audio),
``redaction`` (segments, transcripts), ``sharing`` (shares with recipients), ``intake`` (a call
coming in), ``admin`` (the back office's pages). ``selectors`` holds the one access rule;
``services`` the subject, consent and objection writes. Floors, lowest first: models, vault,
then playback, redaction, selectors and sharing, then services, intake, and the admin, views and
commands on top; the access log is below the whole app (``compliance_site.audit``).
"""
