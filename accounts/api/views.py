from django.contrib.auth import authenticate, update_session_auth_hash
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.serializers import (
    MeSerializer,
    PasswordChangeSerializer,
    RegisteredSerializer,
    RegisterSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from accounts.models import User
from nuvio.errors import Invalid

BAD_CREDENTIALS = "Unable to log in with the provided e-mail address and password."


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "register"

    @extend_schema(
        request=RegisterSerializer,
        responses={201: RegisteredSerializer},
        summary="Create a customer account and get its API token",
    )
    def post(self, request):
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, token = services.user_register(**data.validated_data)
        body = {"id": user.id, "email": user.email, "name": user.name, "token": token.key}
        return Response(RegisteredSerializer(body).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "auth"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer},
        summary="Exchange e-mail and password for an API token",
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["email"],
            password=data.validated_data["password"],
        )
        if user is None:
            # Same answer for an unknown address and a wrong password.
            raise Invalid(BAD_CREDENTIALS)
        return Response({"token": services.user_token(user=user).key})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeSerializer}, summary="The signed-in user")
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses={200: MeSerializer}, summary="Change your name")
    def patch(self, request):
        data = MeSerializer(request.user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "name" in data.validated_data:
            services.user_update_profile(user=request.user, name=data.validated_data["name"])
        return Response(MeSerializer(request.user).data)


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=PasswordChangeSerializer,
        responses={204: None},
        summary="Change your password",
    )
    def post(self, request):
        data = PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # The authenticated user may come from the token cache without its
        # password hash: check against the stored row.
        user = User.objects.get(pk=request.user.pk)
        services.user_change_password(user=user, **data.validated_data)
        if request.auth is None:
            # Signed in by session (browsable API): keep that session valid.
            update_session_auth_hash(request._request, user)
        return Response(status=status.HTTP_204_NO_CONTENT)
