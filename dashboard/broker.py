"""The embedded default's Celery broker: kombu's filesystem transport, with messages
written so that a worker never reads one half-written.

kombu's ``filesystem`` transport creates a message file under its final name, then
writes it. A worker polling the folder in between moves the empty file away, fails to
decode it, and stops with "Unrecoverable error: JSONDecodeError" (kombu issue #1551):
the task is lost and no other task runs until the worker is restarted. Here a message is
written under a name no queue reads, then renamed (atomic within one folder)."""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# A partly written message: its name ends past ".<queue>.msg", so no queue matches it.
PART_SUFFIX = ".part"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs) -> None:
        """Put ``payload`` onto ``queue``, visible only once it is whole."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        part = final + PART_SUFFIX
        try:
            with open(part, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(part, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
