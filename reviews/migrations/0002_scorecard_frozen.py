"""A published scorecard version is frozen in the database, not only in the services: evaluations
name a version, and a score must keep the meaning it was given (reviews.scorecards).

Triggers refuse (IntegrityError on both databases):
- a write to a section or question of a version that is not a draft (insert, update; delete too on
  PostgreSQL);
- a question in a section of another version;
- any change of a published or retired version but its retirement (published -> retired, nothing
  else changed), and its deletion on PostgreSQL.
SQLite (development and the fast tests) has no delete triggers: its test flush empties tables with
row deletes in no set order, which they would refuse; PostgreSQL's flush truncates, which fires no
row trigger.
"""

from django.db import migrations

FROZEN = "A published scorecard version is frozen: start a new version to change it."
WRONG_SECTION = "A question belongs to a section of its own version."

_RETIREMENT_ONLY = """
    OLD.status = 'published' AND NEW.status = 'retired' AND NEW.id = OLD.id
    AND NEW.scorecard_id = OLD.scorecard_id AND NEW.number = OLD.number
    AND NEW.scoring_rule = OLD.scoring_rule AND NEW.created_at = OLD.created_at
    AND NEW.pass_mark {same} OLD.pass_mark AND NEW.created_by_id {same} OLD.created_by_id
    AND NEW.published_at {same} OLD.published_at AND NEW.published_by_id {same} OLD.published_by_id
"""

POSTGRESQL = [
    f"""
    CREATE FUNCTION reviews_scorecard_content_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            IF EXISTS (SELECT 1 FROM reviews_scorecardversion
                       WHERE id = OLD.version_id AND status <> 'draft') THEN
                RAISE EXCEPTION '{FROZEN}' USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        IF EXISTS (SELECT 1 FROM reviews_scorecardversion WHERE id = NEW.version_id AND status <> 'draft') THEN
            RAISE EXCEPTION '{FROZEN}' USING ERRCODE = 'check_violation';
        END IF;
        IF TG_TABLE_NAME = 'reviews_scorecardquestion' THEN
            IF NOT EXISTS (SELECT 1 FROM reviews_scorecardsection
                           WHERE id = NEW.section_id AND version_id = NEW.version_id) THEN
                RAISE EXCEPTION '{WRONG_SECTION}' USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER reviews_scorecardsection_frozen BEFORE INSERT OR UPDATE OR DELETE
    ON reviews_scorecardsection FOR EACH ROW EXECUTE FUNCTION reviews_scorecard_content_frozen()
    """,
    """
    CREATE TRIGGER reviews_scorecardquestion_frozen BEFORE INSERT OR UPDATE OR DELETE
    ON reviews_scorecardquestion FOR EACH ROW EXECUTE FUNCTION reviews_scorecard_content_frozen()
    """,
    f"""
    CREATE FUNCTION reviews_scorecardversion_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.status = 'draft' THEN
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END IF;
        IF TG_OP = 'UPDATE' THEN
            IF {_RETIREMENT_ONLY.format(same="IS NOT DISTINCT FROM")} THEN
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION '{FROZEN}' USING ERRCODE = 'check_violation';
    END $$
    """,
    """
    CREATE TRIGGER reviews_scorecardversion_frozen BEFORE UPDATE OR DELETE
    ON reviews_scorecardversion FOR EACH ROW EXECUTE FUNCTION reviews_scorecardversion_frozen()
    """,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER reviews_scorecardversion_frozen ON reviews_scorecardversion",
    "DROP FUNCTION reviews_scorecardversion_frozen()",
    "DROP TRIGGER reviews_scorecardquestion_frozen ON reviews_scorecardquestion",
    "DROP TRIGGER reviews_scorecardsection_frozen ON reviews_scorecardsection",
    "DROP FUNCTION reviews_scorecard_content_frozen()",
]


def _sqlite_content(table: str) -> list[str]:
    status = "(SELECT status FROM reviews_scorecardversion WHERE id = {row}.version_id) <> 'draft'"
    return [
        f"""CREATE TRIGGER {table}_frozen_insert BEFORE INSERT ON {table}
        WHEN {status.format(row="NEW")} BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END""",
        f"""CREATE TRIGGER {table}_frozen_update BEFORE UPDATE ON {table}
        WHEN {status.format(row="OLD")} OR {status.format(row="NEW")}
        BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END""",
    ]


_SECTION_OF_VERSION = (
    "NOT EXISTS (SELECT 1 FROM reviews_scorecardsection WHERE id = NEW.section_id "
    "AND version_id = NEW.version_id)"
)
SQLITE = [
    *_sqlite_content("reviews_scorecardsection"),
    *_sqlite_content("reviews_scorecardquestion"),
    f"""CREATE TRIGGER reviews_scorecardquestion_section_insert BEFORE INSERT ON reviews_scorecardquestion
    WHEN {_SECTION_OF_VERSION} BEGIN SELECT RAISE(ABORT, '{WRONG_SECTION}'); END""",
    f"""CREATE TRIGGER reviews_scorecardquestion_section_update BEFORE UPDATE ON reviews_scorecardquestion
    WHEN {_SECTION_OF_VERSION} BEGIN SELECT RAISE(ABORT, '{WRONG_SECTION}'); END""",
    f"""CREATE TRIGGER reviews_scorecardversion_frozen_update BEFORE UPDATE ON reviews_scorecardversion
    WHEN OLD.status <> 'draft' AND NOT ({_RETIREMENT_ONLY.format(same="IS")})
    BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END""",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER {name}"
    for name in (
        "reviews_scorecardsection_frozen_insert",
        "reviews_scorecardsection_frozen_update",
        "reviews_scorecardquestion_frozen_insert",
        "reviews_scorecardquestion_frozen_update",
        "reviews_scorecardquestion_section_insert",
        "reviews_scorecardquestion_section_update",
        "reviews_scorecardversion_frozen_update",
    )
]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    for statement in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


def freeze(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL, "sqlite": SQLITE})


def thaw(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE})


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [migrations.RunPython(freeze, thaw, elidable=False)]
