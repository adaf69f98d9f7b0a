"""shared/secret_store.py is the one place that picks a secret store from the settings (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from accounting import quickbooks_auth
from partnercenter.auth import secret_store_for
from shared.config import ConfigError, Secret, Settings
from shared.secret_files import FileSecretStore
from shared.secret_store import (
    InMemorySecretStore,
    KeyVaultSecretStore,
    key_vault_store,
    partner_center_store,
    reset_stores,
    rotating_token_store,
)

REPO = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("accounting", "billing", "cli", "dataverse", "distributors", "functions", "jobs", "partnercenter",
                "payments", "portal", "recon", "shared", "sync")


def test_rotating_tokens_live_in_files_under_the_blob_root_in_sandbox_mode(tmp_path: Path) -> None:
    store = rotating_token_store(Settings(mode="sandbox", local_blob_root=str(tmp_path)), holds="a token")
    assert isinstance(store, FileSecretStore)
    store.set("qb-rt", "refresh-1")
    # A second run (a new store over the same folder) redeems what the first one wrote.
    assert FileSecretStore(tmp_path / "_secrets").get("qb-rt").reveal() == "refresh-1"  # type: ignore[union-attr]
    assert isinstance(quickbooks_auth.secret_store(Settings(mode="sandbox", local_blob_root=str(tmp_path))),
                      FileSecretStore)


def test_the_partner_center_token_stays_in_memory_in_sandbox_mode() -> None:
    reset_stores()
    settings = Settings(mode="sandbox", key_vault_url="https://ignored.vault.azure.net")
    store = partner_center_store(settings)
    assert isinstance(store, InMemorySecretStore)
    assert secret_store_for(settings) is store


@pytest.mark.parametrize("holds", ["the QuickBooks refresh token", "the TD SYNNEX refresh token"])
def test_a_missing_vault_names_the_setting_and_the_secret(holds: str) -> None:
    with pytest.raises(ConfigError, match=f"CSPB_KEY_VAULT_URL is not set: {holds} lives in Key Vault"):
        rotating_token_store(Settings(mode="azure", key_vault_url=""), holds=holds)
    with pytest.raises(ConfigError, match="the Partner Center refresh token"):
        partner_center_store(Settings(mode="azure", key_vault_url=""))


def test_one_key_vault_client_per_vault_and_identity() -> None:
    reset_stores()
    settings = Settings(mode="azure", key_vault_url="https://contoso.vault.azure.net", client_id="app",
                        client_secret=Secret("s"), tenant_id="t", login_url="https://login.microsoftonline.com")
    first = key_vault_store(settings, holds="x")
    assert isinstance(first, KeyVaultSecretStore)
    # Partner Center, QuickBooks and TD SYNNEX share it, so they share its writer.
    assert partner_center_store(settings) is first
    assert rotating_token_store(settings, holds="y") is first
    other = Settings(mode="azure", key_vault_url="https://fabrikam.vault.azure.net", client_id="app",
                     client_secret=Secret("s"), tenant_id="t", login_url="https://login.microsoftonline.com")
    assert key_vault_store(other, holds="x") is not first
    reset_stores()


def test_no_other_module_builds_a_secret_store_of_its_own() -> None:
    built = re.compile(r"\b(KeyVaultSecretStore|FileSecretStore|SecretClient)\(")
    found = [f"{path.relative_to(REPO)}:{n}"
             for package in APP_PACKAGES for path in sorted((REPO / package).rglob("*.py"))
             if path.relative_to(REPO).as_posix() != "shared/secret_store.py"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if built.search(line)]
    assert not found, f"build secret stores through shared/secret_store.py, not here: {found}"
