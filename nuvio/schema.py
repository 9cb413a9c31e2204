"""OpenAPI generation: every operation documents the error envelope."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `sold_out`.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.DictField(
        help_text="Field errors for `invalid`; facts such as `available` for `sold_out`."
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()

    class Meta:
        ref_name = "Error"


_ERRORS = {
    "400": "`invalid`: malformed JSON, wrong types, out-of-range values, bad query parameters.",
    "401": "`not_authenticated`: missing or bad credentials.",
    "403": "`permission_denied`: authenticated but not allowed.",
    "404": "`not_found`: no such object, or one that belongs to another user.",
    "409": "A business rule refused the change (see the code).",
    "413": "`too_large`: the request body is over the size limit (`details.max_bytes`).",
    "415": "`unsupported_media_type`: a request body that is not JSON, a form or multipart.",
    "429": "`throttled`: rate limit hit; see `Retry-After`.",
    "503": "`busy` or `unavailable`: nothing was changed; see `Retry-After`.",
}
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_BODY_ERRORS = {"409", "413", "415"}  # only for methods that change something


class NuvioAutoSchema(AutoSchema):
    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            if parameter["in"] != "query":
                continue
            if parameter["name"] in ("page", "page_size"):
                # Anything but a positive whole number is 400 `invalid`.
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
            elif not parameter.get("required"):
                # An optional filter sent empty (`?status=`, as HTML forms do)
                # counts as not given.
                parameter["allowEmptyValue"] = True
        return parameters

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        for status, description in _ERRORS.items():
            if status in responses or (status in _BODY_ERRORS and self.method in _READ_METHODS):
                continue
            responses[status] = self._get_response_for_code(
                OpenApiResponse(ErrorSerializer, description=description),
                status,
                direction=direction,
            )
        return responses
