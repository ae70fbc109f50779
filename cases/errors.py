"""Errors the domain raises: each has a code the API and pages can show as-is."""


class CaseError(Exception):
    """Base of the domain's refusals; nothing was changed when one is raised."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(CaseError):
    code = "not_found"
    http_status = 404


class CaseNotVisible(NotFound):
    """The case exists but not for this actor: they are told it does not exist (so ids do not
    leak), the trail records a permission denial."""

    audit_code = "not_visible"


class ActionNotPermitted(CaseError):
    """The actor's role or queue membership does not allow this action."""

    code = "permission_denied"
    http_status = 403


class TransitionNotAllowed(CaseError):
    code = "transition_not_allowed"
    http_status = 409


class StaleVersion(CaseError):
    """Someone changed the case since the actor loaded it."""

    code = "stale_version"
    http_status = 409


class InvalidInput(CaseError):
    code = "invalid_input"
    http_status = 400


class StorageUnavailable(CaseError):
    """The file store (S3) is out of reach for now: nothing was saved, and trying again later
    will do. retry_after_seconds: when to try again (the API's Retry-After)."""

    code = "storage_unavailable"
    http_status = 503
    retry_after_seconds = 30


class Busy(CaseError):
    """Others held the same rows at the same moment (a deadlock or serialization failure,
    retried until the attempts ran out): nothing was changed, and trying again will do."""

    code = "busy"
    http_status = 409
