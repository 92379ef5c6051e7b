"""The ErrorInfo reasons media_service gives, beside the mesh's own
(`mesh.errors.Reason`). The README's table of error reasons lists them all."""

from enum import StrEnum


class MediaReason(StrEnum):
    # What a session declares
    UNKNOWN_MEDIA_TYPE = "UNKNOWN_MEDIA_TYPE"  # {mediaType}
    FILE_TYPE_NOT_ALLOWED = "FILE_TYPE_NOT_ALLOWED"  # {mediaType, fileType}
    FILE_TOO_LARGE = "FILE_TOO_LARGE"  # {mediaType, limit}
    # The caller's limits
    TOO_MANY_PENDING = "TOO_MANY_PENDING"  # {limit}
    DAILY_QUOTA_EXCEEDED = "DAILY_QUOTA_EXCEEDED"  # {limit, remaining, resetsAt}
    STORED_QUOTA_EXCEEDED = "STORED_QUOTA_EXCEEDED"  # {limit, remaining}
    TOO_MANY_STREAMS = "TOO_MANY_STREAMS"  # {limit}
    # The media and where it stands
    MEDIA_NOT_FOUND = "MEDIA_NOT_FOUND"  # {mediaId}
    UPLOAD_NOT_PENDING = "UPLOAD_NOT_PENDING"  # {mediaId, status}
    UPLOAD_IS_MULTIPART = "UPLOAD_IS_MULTIPART"  # {mediaId}: finish it with complete-multipart
    UPLOAD_IS_SINGLE = "UPLOAD_IS_SINGLE"  # {mediaId}: finish it with complete
    UPLOAD_ID_MISMATCH = "UPLOAD_ID_MISMATCH"  # {mediaId}
    MULTIPART_CLOSED = "MULTIPART_CLOSED"  # {mediaId}
    NOTHING_UPLOADED = "NOTHING_UPLOADED"  # {mediaId}
    MEDIA_ATTACHED = "MEDIA_ATTACHED"  # {mediaId, postId}
    MEDIA_NOT_ATTACHABLE = "MEDIA_NOT_ATTACHABLE"  # {mediaId, status}
    MEDIA_ENDED = "MEDIA_ENDED"  # {mediaId, status}: it can no longer be changed
    NOTHING_TO_UPDATE = "NOTHING_TO_UPDATE"
    # The parts list of complete-multipart (the upload stays PENDING)
    PART_NOT_LISTED = "PART_NOT_LISTED"  # {partNumber}: the first part missing from the list
    PART_NOT_UPLOADED = "PART_NOT_UPLOADED"  # {partNumber}
    PART_ETAG_MISMATCH = "PART_ETAG_MISMATCH"  # {partNumber}
    PART_CHECKSUM_MISMATCH = "PART_CHECKSUM_MISMATCH"  # {partNumber}
    ASSEMBLY_REFUSED = "ASSEMBLY_REFUSED"  # {mediaId, storageCode}
    # "upload rejected": the stored object failed a check (the upload ends REJECTED)
    SIZE_MISMATCH = "SIZE_MISMATCH"  # {mediaId}
    TYPE_MISMATCH = "TYPE_MISMATCH"  # {mediaId}
    CONTENT_MISMATCH = "CONTENT_MISMATCH"  # {mediaId}
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"  # {mediaId}
    OBJECT_CHANGED = "OBJECT_CHANGED"  # {mediaId}
    PART_TOO_SMALL = "PART_TOO_SMALL"  # {mediaId}
    # Outages
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    CHANGE_FEED_UNAVAILABLE = "CHANGE_FEED_UNAVAILABLE"
    SERVER_AT_CAPACITY = "SERVER_AT_CAPACITY"  # this process holds all the streams it can
    SERVER_DRAINING = "SERVER_DRAINING"
