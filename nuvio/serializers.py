"""Serializer pieces shared by the apps' APIs."""

from rest_framework import serializers
from rest_framework.settings import api_settings


class PositionalListSerializer(serializers.ListSerializer):
    """A list in a request body (a reserve's ``items``, an event's
    ``ticket_types``) whose errors read as the services report theirs: a
    list as long as the body, ``{}`` for each good entry and the field errors
    of each bad one; or the list's own messages (not a list, empty, too long).
    DRF would key the bad entries by their index instead."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if not isinstance(detail, dict):
                raise
            if set(detail) == {api_settings.NON_FIELD_ERRORS_KEY}:
                raise serializers.ValidationError(
                    detail[api_settings.NON_FIELD_ERRORS_KEY]
                ) from None
            raise serializers.ValidationError(
                [detail.get(index, {}) for index in range(len(data))]
            ) from None
