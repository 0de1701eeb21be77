"""The Auth emulator's errors: Google's error envelope and every message string it sends, in one table."""

from __future__ import annotations

from typing import Any, NoReturn

# -- business errors (HTTP 400, no `status`): the code part is the contract clients compare -----

CLAIMS_TOO_LARGE = "CLAIMS_TOO_LARGE"
DUPLICATE_LOCAL_ID = "DUPLICATE_LOCAL_ID"
EMAIL_EXISTS = "EMAIL_EXISTS"
EMAIL_LINK_MISMATCH = "INVALID_EMAIL : The email provided does not match the sign-in email address."
EMAIL_NOT_FOUND = "EMAIL_NOT_FOUND"
FORBIDDEN_CLAIM = "FORBIDDEN_CLAIM : {name}"
INSUFFICIENT_PERMISSION = "INSUFFICIENT_PERMISSION"
INVALID_CLAIMS = "INVALID_CLAIMS"
INVALID_CONTINUE_URI = "INVALID_CONTINUE_URI : ((expected an absolute URI with valid scheme and host))"
INVALID_CUSTOM_TOKEN_AUD = (
    "INVALID_CUSTOM_TOKEN : ((Invalid aud (audience): {aud} Note: Firebase ID Tokens / "
    "third-party tokens cannot be used with signInWithCustomToken.))"
)
INVALID_CUSTOM_TOKEN_FORMAT = "INVALID_CUSTOM_TOKEN : Invalid assertion format"
INVALID_CUSTOM_TOKEN_JSON = (
    "INVALID_CUSTOM_TOKEN : ((Auth Emulator only accepts strict JSON or JWTs as fake custom tokens.))"
)
# focus serve in secure mode: an unsigned custom token would let anyone sign in as anyone.
CUSTOM_TOKENS_REFUSED = (
    "INVALID_CUSTOM_TOKEN : ((focus serve in secure mode accepts no custom tokens; "
    "sign in with email and password.))"
)
INVALID_DURATION = "INVALID_DURATION"
INVALID_EMAIL = "INVALID_EMAIL"
INVALID_GRANT_TYPE = "INVALID_GRANT_TYPE"
INVALID_ID_TOKEN = "INVALID_ID_TOKEN"
INVALID_LOGIN_CREDENTIALS = "INVALID_LOGIN_CREDENTIALS"
INVALID_OOB_CODE = "INVALID_OOB_CODE"
INVALID_PASSWORD = "INVALID_PASSWORD"
INVALID_PHONE_NUMBER = "INVALID_PHONE_NUMBER : Invalid format."
INVALID_PROJECT_ID = "INVALID_PROJECT_ID : ((project ids use letters, digits, '-' and '_'.))"
INVALID_REFRESH_TOKEN = "INVALID_REFRESH_TOKEN"
INVALID_REQ_TYPE = "INVALID_REQ_TYPE : Unsupported request parameters."
LOCAL_ID_LIST_EXCEEDS_LIMIT = "LOCAL_ID_LIST_EXCEEDS_LIMIT"
MISSING_CUSTOM_TOKEN = "MISSING_CUSTOM_TOKEN"
MISSING_EMAIL = "MISSING_EMAIL"
MISSING_GRANT_TYPE = "MISSING_GRANT_TYPE"
MISSING_ID_TOKEN = "MISSING_ID_TOKEN"
MISSING_IDENTIFIER = "MISSING_IDENTIFIER"
MISSING_LOCAL_ID = "MISSING_LOCAL_ID"
MISSING_NEW_EMAIL = "MISSING_NEW_EMAIL"
MISSING_OOB_CODE = "MISSING_OOB_CODE"
MISSING_PASSWORD = "MISSING_PASSWORD"
MISSING_REFRESH_TOKEN = "MISSING_REFRESH_TOKEN"
MISSING_REQ_TYPE = "MISSING_REQ_TYPE"
NOT_DISABLED = "NOT_DISABLED : Disable the account before batch deletion."
OPERATION_NOT_ALLOWED = "OPERATION_NOT_ALLOWED"
PHONE_NUMBER_EXISTS = "PHONE_NUMBER_EXISTS"
TARGET_PROJECT_NEEDS_OAUTH = (
    "INSUFFICIENT_PERMISSION : Only authenticated requests can specify target_project_id."
)
TOKEN_EXPIRED = "TOKEN_EXPIRED"
UNEXPECTED_LOCAL_ID = "UNEXPECTED_PARAMETER : User ID"
USER_DISABLED = "USER_DISABLED"
USER_NOT_FOUND = "USER_NOT_FOUND"
WEAK_PASSWORD = "WEAK_PASSWORD : Password should be at least 6 characters"

# -- request-level errors (with a canonical `status`) -----------------------------------------

MISSING_API_KEY = "The request is missing a valid API key."
INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
LOGIN_REQUIRED = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
NOT_FOUND = "Not Found"
INVALID_JSON = "Invalid JSON payload received. {detail}"
NOT_IMPLEMENTED = "{operation} is not implemented in the Auth Emulator."
UNAVAILABLE = "The data directory failed: {detail}"


class AuthApiError(Exception):
    """One failure, rendered as ``{"error": {code, message, errors[, status]}}``."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.errors = errors or [{"message": message, "reason": "invalid", "domain": "global"}]

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "errors": self.errors}
        if self.status is not None:
            body["status"] = self.status
        return {"error": body}


def fail(message: str) -> NoReturn:
    """A business error: HTTP 400 whose message is one of the strings above."""
    raise AuthApiError(400, message)


def check(condition: object, message: str) -> None:
    """``fail(message)`` unless ``condition`` holds (the emulator's order of checks is contract)."""
    if not condition:
        raise AuthApiError(400, message)


def invalid_argument(detail: str) -> AuthApiError:
    text = INVALID_JSON.format(detail=detail)
    return AuthApiError(400, text, status="INVALID_ARGUMENT",
                        errors=[{"message": text, "reason": "invalid", "domain": "global"}])


def missing_api_key() -> AuthApiError:
    return AuthApiError(403, MISSING_API_KEY, status="PERMISSION_DENIED",
                        errors=[{"message": MISSING_API_KEY, "reason": "forbidden", "domain": "global"}])


def invalid_credentials() -> AuthApiError:
    item = {"message": "Invalid Credentials", "domain": "global", "reason": "authError",
            "location": "Authorization", "locationType": "header"}
    return AuthApiError(401, INVALID_CREDENTIALS, status="UNAUTHENTICATED", errors=[item])


def login_required() -> AuthApiError:
    item = {"message": "Login Required.", "domain": "global", "reason": "required",
            "location": "Authorization", "locationType": "header"}
    return AuthApiError(401, LOGIN_REQUIRED, status="UNAUTHENTICATED", errors=[item])


def not_found() -> AuthApiError:
    return AuthApiError(404, NOT_FOUND, status="NOT_FOUND",
                        errors=[{"message": NOT_FOUND, "reason": "notFound"}])


def not_implemented(operation: str) -> AuthApiError:
    text = NOT_IMPLEMENTED.format(operation=operation)
    return AuthApiError(501, text, status="NOT_IMPLEMENTED",
                        errors=[{"message": text, "reason": "unimplemented"}])


def unavailable(detail: str) -> AuthApiError:
    text = UNAVAILABLE.format(detail=detail)
    return AuthApiError(503, text, status="UNAVAILABLE",
                        errors=[{"message": text, "reason": "backendError"}])
