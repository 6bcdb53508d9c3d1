"""Keep AWS session tokens out of logs.

At DEBUG, botocore logs every request it sends (headers included) and the canonical request it
signs, both carrying the temporary session token (``X-Amz-Security-Token``). A filter on those
loggers replaces the token before any handler sees the record.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# The header in a request's repr ('X-Amz-Security-Token': b'...'), the canonical request's
# "x-amz-security-token:..." line and the query parameter of presigned URLs.
SESSION_TOKEN_PATTERN = re.compile(
    r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)[^'"\s&|,}]+""", re.IGNORECASE
)
# Logger-level filters see only their own logger's records, so each logger that may carry a
# request is named (aiobotocore logs through botocore's endpoint logger).
AWS_LOGGER_NAMES = (
    "botocore.auth",
    "botocore.awsrequest",
    "botocore.client",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.retryhandler",
    "aiobotocore.client",
    "aiobotocore.httpsession",
    "s3fs",
    "urllib3.connectionpool",
)


class SessionTokenRedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a malformed record is the logging machinery's to report, not ours
        if "security-token" in message.lower():
            record.msg = SESSION_TOKEN_PATTERN.sub(rf"\g<1>{REDACTED}", message)
            record.args = None
        return True


SESSION_TOKEN_FILTER = SessionTokenRedactFilter()


def aws_log_redaction_install() -> None:
    """Put the session-token filter on every AWS logger (once; later calls change nothing)."""
    for name in AWS_LOGGER_NAMES:
        logger = logging.getLogger(name)
        if SESSION_TOKEN_FILTER not in logger.filters:
            logger.addFilter(SESSION_TOKEN_FILTER)
