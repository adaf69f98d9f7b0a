"""Partner Center tokens: refresh-token redemption through msal, secret stores, sandbox mode."""

from __future__ import annotations

import pytest

from partnercenter.auth import (
    PARTNER_CENTER_SCOPE,
    InMemorySecretStore,
    RefreshTokenProvider,
    graph_token,
    partner_center_token,
)
from shared.config import Settings
from shared.errors import AuthError


class FakeMsal:
    """Stands in for msal.ConfidentialClientApplication (the token endpoint is Entra's, not ours)."""

    def __init__(self, rotate: bool = True) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.rotate = rotate

    def acquire_token_by_refresh_token(self, refresh_token: str, scopes: list[str]) -> dict:
        self.calls.append((refresh_token, scopes))
        if refresh_token == "revoked":
            return {"error": "invalid_grant", "error_description": "AADSTS70000 refresh token revoked"}
        n = len(self.calls)
        result = {"access_token": f"access-{n}", "expires_in": 3600}
        if self.rotate:
            result["refresh_token"] = f"refresh-{n}"
        return result


def test_refresh_token_is_redeemed_cached_and_rotated():
    store = InMemorySecretStore({"pc-rt": "refresh-0"})
    now = [1000.0]
    app = FakeMsal()
    provider = RefreshTokenProvider(store, "pc-rt", msal_app=app, clock=lambda: now[0])
    assert provider() == "access-1"
    assert provider() == "access-1"  # cached
    assert app.calls == [("refresh-0", [PARTNER_CENTER_SCOPE])]
    assert store.get("pc-rt").reveal() == "refresh-1"  # the rotated token was written back
    now[0] += 3600
    assert provider() == "access-2"
    assert app.calls[-1][0] == "refresh-1"


def test_missing_or_revoked_refresh_token_is_an_auth_error():
    with pytest.raises(AuthError):
        RefreshTokenProvider(InMemorySecretStore(), "pc-rt", msal_app=FakeMsal())()
    with pytest.raises(AuthError) as err:
        RefreshTokenProvider(InMemorySecretStore({"pc-rt": "revoked"}), "pc-rt", msal_app=FakeMsal())()
    assert err.value.code == "invalid_grant" and "revoked" not in str(err.value).split("code=")[0].lower()


def test_secret_store_never_shows_values():
    store = InMemorySecretStore({"a": "very-secret-value"})
    assert "very-secret-value" not in repr(store.get("a"))
    assert store.get("missing") is None


def test_sandbox_mode_uses_static_tokens():
    settings = Settings(mode="sandbox")
    assert partner_center_token(settings)() == "sandbox-token"
    assert graph_token(settings)() == "sandbox-token"


class ReadOnlyStore(InMemorySecretStore):
    """Key Vault with 'Secrets User' only: reads work, the write-back is refused."""

    def set(self, name, value, tags=None):
        raise AuthError("Key Vault refused to write secret: lacks the 'Key Vault Secrets Officer' role", status=403)


def test_a_refused_write_back_keeps_the_new_token_in_this_process():
    store = ReadOnlyStore({"pc-rt": "refresh-0"})
    now = [1000.0]
    app = FakeMsal()
    first = RefreshTokenProvider(store, "pc-rt", msal_app=app, clock=lambda: now[0])
    other_audience = RefreshTokenProvider(store, "pc-rt", msal_app=app, scope="https://api.partner.microsoft.com/.default",
                                          clock=lambda: now[0])
    assert first() == "access-1"
    # The next redemption (another audience, same writer) uses the rotated token, not the stale stored one.
    assert other_audience() == "access-2"
    assert [call[0] for call in app.calls] == ["refresh-0", "refresh-1"]


def test_one_writer_for_every_audience():
    import threading

    store = InMemorySecretStore({"pc-rt": "refresh-0"})
    seen: list[str] = []
    inside = threading.Lock()

    class Strict(FakeMsal):
        def acquire_token_by_refresh_token(self, refresh_token, scopes):
            assert inside.acquire(blocking=False), "two redemptions at once"
            try:
                seen.append(refresh_token)
                return super().acquire_token_by_refresh_token(refresh_token, scopes)
            finally:
                inside.release()

    app = Strict()
    providers = [RefreshTokenProvider(store, "pc-rt", msal_app=app, scope=f"https://r{i}.example/.default")
                 for i in range(12)]
    threads = [threading.Thread(target=p) for p in providers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each redemption used the token the previous one wrote back: a chain, never a reuse.
    assert seen == ["refresh-0"] + [f"refresh-{n}" for n in range(1, 12)]
    assert store.get("pc-rt").reveal() == "refresh-12" and store.writes == 12


def test_managed_identity_is_never_used_as_the_partner_center_app():
    """One client id cannot be both: with managed identity on and no CSPB_PC_CLIENT_ID, the refresh-token
    request is not sent with an empty client id and no secret; the setting is named instead."""
    from shared.config import ConfigError

    settings = Settings(mode="azure", use_managed_identity=True, client_id="mi-client-id", tenant_id="t",
                        login_url="https://login.microsoftonline.com")
    provider = partner_center_token(settings, InMemorySecretStore({"pc-refresh-token": "rt"}))
    with pytest.raises(ConfigError, match="CSPB_PC_CLIENT_ID"):
        provider()
    with pytest.raises(ConfigError, match="CSPB_PC_CLIENT_ID"):
        graph_token(settings)()


def test_partner_center_app_registration_has_its_own_settings():
    from partnercenter.auth import pc_authority, pc_client_id

    settings = Settings(mode="azure", use_managed_identity=True, client_id="mi-client-id", tenant_id="customer-t",
                        pc_client_id="pc-app", pc_tenant_id="partner-t", login_url="https://login.microsoftonline.com")
    assert pc_client_id(settings) == "pc-app"
    assert pc_authority(settings) == "https://login.microsoftonline.com/partner-t"


def test_redemption_holds_the_cross_process_lock_and_keeps_the_tags(tmp_path):
    """Another instance (or the CLI) redeeming the same token waits: the redemption runs under the file lock
    (a blob lease when the app has Storage), and the rotated token keeps the tag naming its client."""
    import fcntl
    import os

    lock_file = tmp_path / "_locks" / "pc-rt.lock"
    held: list[bool] = []

    class Checking(FakeMsal):
        def acquire_token_by_refresh_token(self, refresh_token, scopes):
            fd = os.open(lock_file, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                held.append(True)
            finally:
                os.close(fd)
            return super().acquire_token_by_refresh_token(refresh_token, scopes)

    store = InMemorySecretStore()
    store.set("pc-rt", "refresh-0", {"cspb-client": "public"})
    settings = Settings(mode="azure", local_blob_root=str(tmp_path))
    provider = RefreshTokenProvider(store, "pc-rt", msal_app=Checking(), settings=settings)
    assert provider() == "access-1"
    assert held == [True]
    assert store.get("pc-rt").reveal() == "refresh-1" and store.tags("pc-rt") == {"cspb-client": "public"}


def test_a_token_rotated_by_another_instance_is_read_again_before_asking_for_consent():
    from shared.config import Secret

    class RotatedMeanwhile(InMemorySecretStore):
        """The first read sees the token another instance has just redeemed; the re-read sees its new one."""

        reads = 0

        def get(self, name):
            self.reads += 1
            return super().get(name) if self.reads > 1 else Secret("revoked")

    store = RotatedMeanwhile({"pc-rt": "refresh-7"})
    app = FakeMsal()
    assert RefreshTokenProvider(store, "pc-rt", msal_app=app)() == "access-2"
    assert [call[0] for call in app.calls] == ["revoked", "refresh-7"]
    assert store.get("pc-rt").reveal() == "refresh-2"
