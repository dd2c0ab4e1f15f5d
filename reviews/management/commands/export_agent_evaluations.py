"""``manage.py export_agent_evaluations --agent USERNAME --out DIR --by DPO``: an agent's copy of
every QA evaluation of theirs (Art. 15), as ``agent-<id>-evaluations.json`` and ``.csv`` in DIR.

The export is recorded in the access log in the name of ``--by``, who must be a DPO.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError

from compliance_site.management.commands.issue_enrolment_code import _user
from reviews.agent_export import AgentExport, agent_evaluations_export


class Command(BaseCommand):
    help = "Export every QA evaluation of an agent (their Art. 15 request) as JSON and CSV."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True, help="the agent's username")
        parser.add_argument("--out", required=True, type=Path, help="an existing folder for the two files")
        parser.add_argument("--by", required=True, help="username of the DPO answering the request")

    def handle(self, *args, agent: str, out: Path, by: str, **options):
        if not out.is_dir():
            raise CommandError(f"{out} is not a folder.")
        subject, actor = _user(agent), _user(by)
        paths = {
            suffix: out / f"{AgentExport.basename_for(subject.pk)}.{suffix}" for suffix in ("json", "csv")
        }
        # Checked before the export is recorded: a copy already sent stays what was sent.
        existing = [str(path) for path in paths.values() if path.exists()]
        if existing:
            raise CommandError(f"{' and '.join(existing)} exist; choose another folder.")
        try:
            export = agent_evaluations_export(
                agent=subject, actor=actor, via="manage.py export_agent_evaluations"
            )
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        for suffix, content in (("json", export.json_bytes), ("csv", export.csv_bytes)):
            with paths[suffix].open("xb") as file:
                file.write(content)
            paths[suffix].chmod(0o600)
        self.stdout.write(
            self.style.SUCCESS(
                f"{export.evaluations} evaluations exported to {paths['json']} and {paths['csv']}"
            )
        )
