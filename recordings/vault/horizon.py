"""The erasure horizon: the date by which an erasure has reached every copy, backups included.

An erased subject's key is gone from live data at once. A copy of it wrapped under the master-key
version of the time stays in dead rows, WAL segments and backups until that version is destroyed:
the version is retired by the next rotation (at most ``CUSTOS_MASTER_KEY_ROTATION_DAYS`` later),
then destroyed once retired for ``CUSTOS_BACKUP_RETENTION_DAYS``, and KMS deletes a key only after
its waiting period. The DPO's page and the erasure letter state this date.
"""

from __future__ import annotations

import datetime

from compliance_site.keys import get_provider
from recordings.vault.retirement import backup_retention
from recordings.vault.rotation import rotation_interval

# Beat checks every hour; a day covers a late check and the re-wrapping of every key.
SCHEDULE_MARGIN = datetime.timedelta(days=1)


def erasure_horizon(erased_at: datetime.datetime) -> datetime.datetime:
    """When no backup, WAL archive or dead row of ``erased_at`` or before can be decrypted with
    anything Custos still holds (with the current settings)."""
    return (
        erased_at
        + rotation_interval()
        + SCHEDULE_MARGIN
        + backup_retention()
        + SCHEDULE_MARGIN
        + get_provider().destruction_delay
    )
