"""Safe model files: one zip of JSON + safetensors; nothing is ever unpickled or evaluated.

See ``filterbank/saving/FORMAT.md`` for the file format and the checks done on loading.
"""

from .archive import FORMAT_VERSION, Archive, read_archive, write_archive
from .errors import ModelFileError

__all__ = ["FORMAT_VERSION", "Archive", "ModelFileError", "read_archive", "write_archive"]
