"""Payload serializers of `/v1/shared` events."""

from rest_framework import serializers

from realtime.push.models import Platform


class RegisterDeviceSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
    platform = serializers.ChoiceField(choices=Platform.choices)


class UnregisterDeviceSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=512)
