//! Downstream tokens through entra-token's confidential client: on behalf of the caller (the
//! incoming token as the user assertion) or as the app, with the L1 cache in memory and the
//! encrypted Redis L2 when configured, one client per tenant (`AcquireTokenOptions.Tenant`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use entra_core::{ExposeSecret as _, SecretString};
use entra_token::cache::SharedCache;
use entra_token::managed_identity::TOKEN_EXCHANGE_AUDIENCE;
use entra_token::{
    AccessToken, Authority, Certificate, ClientCredential, ClientStats, ConfidentialClient,
    ConfidentialConfig, ManagedIdentityCredential, ManagedIdentityId, ManagedIdentityOptions,
    Scopes, TokenError, UserAssertion,
};
use http::StatusCode;

use crate::problem::Failure;
use crate::settings::{AzureAd, CredentialSource, SettingsError};

/// Most tenants a sidecar keeps a client for through `AcquireTokenOptions.Tenant`.
const MAX_TENANT_CLIENTS: usize = 64;

/// Who the token is for.
pub enum Caller<'a> {
    /// The validated caller: on behalf of this user.
    User {
        /// Its verified claims.
        claims: &'a entra_auth::VerifiedClaims,
        /// The token those claims came from.
        token: &'a str,
    },
    /// The unauthenticated routes: always the app.
    Anonymous,
}

/// The confidential clients of the sidecar.
pub struct Tokens {
    azure_ad: AzureAd,
    credential: ClientCredential,
    shared: Option<Arc<dyn SharedCache>>,
    home: ConfidentialClient,
    tenants: Mutex<HashMap<String, ConfidentialClient>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("client_id", &self.azure_ad.client_id)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// The clients of `azure_ad`, with the first credential of `AzureAd:ClientCredentials` that
    /// loads (they are tried in order, as Microsoft.Identity.Web tries them). `None` when no
    /// credential is configured: only `/Validate` works then.
    ///
    /// # Errors
    /// A credential that names a file that cannot be read or used, when no later one loads.
    pub fn new(
        azure_ad: &AzureAd,
        shared: Option<Arc<dyn SharedCache>>,
    ) -> Result<Option<Self>, SettingsError> {
        let mut last_error = None;
        let mut credential = None;
        for (index, source) in azure_ad.credentials.iter().enumerate() {
            match load_credential(source) {
                Ok(c) => {
                    tracing::info!(
                        index,
                        kind = source_kind(source),
                        "client credential loaded"
                    );
                    credential = Some(c);
                    break;
                }
                Err(reason) => {
                    tracing::warn!(index, kind = source_kind(source), %reason, "client credential skipped");
                    last_error = Some(SettingsError::Invalid {
                        key: format!("AzureAd:ClientCredentials:{index}"),
                        value: source_kind(source).into(),
                        reason,
                    });
                }
            }
        }
        let Some(credential) = credential else {
            return match last_error {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let home = build_client(
            azure_ad,
            &azure_ad.tenant_id,
            credential.clone(),
            shared.clone(),
        )?;
        Ok(Some(Self {
            azure_ad: azure_ad.clone(),
            credential,
            shared,
            home,
            tenants: Mutex::new(HashMap::new()),
        }))
    }

    /// The home client's counters (cache hits per level, token requests per grant).
    pub fn stats(&self) -> ClientStats {
        self.home.stats()
    }

    fn client(&self, tenant: Option<&str>) -> Result<ConfidentialClient, Failure> {
        let Some(tenant) = tenant.filter(|t| !t.eq_ignore_ascii_case(&self.azure_ad.tenant_id))
        else {
            return Ok(self.home.clone());
        };
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = tenants.get(tenant) {
            return Ok(client.clone());
        }
        if tenants.len() >= MAX_TENANT_CLIENTS {
            return Err(Failure::problem(
                StatusCode::BAD_REQUEST,
                format!("too many distinct tenants requested through AcquireTokenOptions.Tenant (at most {MAX_TENANT_CLIENTS})"),
            ));
        }
        let client = build_client(
            &self.azure_ad,
            tenant,
            self.credential.clone(),
            self.shared.clone(),
        )
        .map_err(|e| {
            Failure::problem(
                StatusCode::BAD_REQUEST,
                format!("optionsOverride.AcquireTokenOptions.Tenant: {e}"),
            )
        })?;
        tenants.insert(tenant.to_owned(), client.clone());
        Ok(client)
    }

    /// A token for `scopes`: on behalf of `caller` unless `app_token` (or the caller is
    /// anonymous); the app token uses the first scope only, as Microsoft's sidecar does.
    ///
    /// # Errors
    /// [`Failure`]: 400 for scopes the grant cannot use, 401 with the identity provider's
    /// message when it refused (consent, MFA, an expired or foreign assertion), 503 when it
    /// cannot be reached.
    pub async fn acquire(
        &self,
        caller: Caller<'_>,
        scopes: &[String],
        app_token: bool,
        tenant: Option<&str>,
        force_refresh: bool,
    ) -> Result<AccessToken, Failure> {
        let client = self.client(tenant)?;
        let result = match caller {
            Caller::User { claims, token } if !app_token => {
                let assertion = UserAssertion::from_verified(claims, token)
                    .map_err(|e| token_failure(&TokenError::from(e)))?;
                let scopes = Scopes::new(scopes.iter().map(String::as_str));
                let first = client.acquire_on_behalf_of(&assertion, &scopes).await;
                match first {
                    Ok(t) if force_refresh => {
                        client.reacquire_on_behalf_of(&assertion, &scopes, &t).await
                    }
                    other => other,
                }
            }
            _ => {
                let scopes = Scopes::new(scopes.iter().take(1).map(String::as_str));
                let first = client.acquire_for_app(&scopes).await;
                match first {
                    Ok(t) if force_refresh => client.reacquire_for_app(&scopes, &t).await,
                    other => other,
                }
            }
        };
        result.map_err(|e| token_failure(&e))
    }
}

/// The answer for a failed acquisition, with the cause logged.
fn token_failure(e: &TokenError) -> Failure {
    match e {
        TokenError::InvalidScopes { .. } => {
            tracing::info!(error = %e, "token request refused before the network");
            Failure::problem(StatusCode::BAD_REQUEST, e.to_string())
        }
        TokenError::Timeout { .. } | TokenError::Transport(_) => {
            tracing::warn!(error = %e, "identity provider unreachable");
            Failure::Problem {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: format!("{e}: the identity provider could not be reached; retry shortly"),
                retry_after: Some(5),
            }
        }
        TokenError::Rejected(_)
        | TokenError::ClaimsChallenge(_)
        | TokenError::Assertion(_)
        | TokenError::B2cOnBehalfOf { .. } => {
            tracing::info!(error = %e, "token acquisition refused");
            Failure::problem(StatusCode::UNAUTHORIZED, e.to_string())
        }
        // A managed identity endpoint (the client's credential) unavailable or slow.
        transient if transient.is_transient() => {
            tracing::warn!(error = %transient, "token acquisition failed transiently");
            Failure::Problem {
                status: StatusCode::SERVICE_UNAVAILABLE,
                detail: format!("{transient}: retry shortly"),
                retry_after: Some(5),
            }
        }
        other => {
            tracing::error!(error = %other, "token acquisition failed");
            Failure::unexpected()
        }
    }
}

fn build_client(
    azure_ad: &AzureAd,
    tenant: &str,
    credential: ClientCredential,
    shared: Option<Arc<dyn SharedCache>>,
) -> Result<ConfidentialClient, SettingsError> {
    let invalid = |key: &str, value: &str, e: &dyn std::fmt::Display| SettingsError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: e.to_string(),
    };
    let authority = match &azure_ad.b2c_policy {
        Some(policy) => Authority::b2c(&azure_ad.instance, tenant, policy)
            .map_err(|e| invalid("AzureAd:SignUpSignInPolicyId", policy, &e))?,
        None => Authority::tenant(tenant)
            .map_err(|e| invalid("AzureAd:TenantId", tenant, &e))?
            .with_instance(&azure_ad.instance)
            .map_err(|e| invalid("AzureAd:Instance", &azure_ad.instance, &e))?,
    };
    let mut builder = ConfidentialConfig::builder(authority, &azure_ad.client_id, credential)
        .api_audiences(azure_ad.audiences.iter().cloned());
    if let Some(shared) = shared {
        builder = builder.shared_cache(shared);
    }
    let config = builder
        .build()
        .map_err(|e| invalid("AzureAd", &azure_ad.client_id, &e))?;
    ConfidentialClient::new(config).map_err(|e| invalid("AzureAd", &azure_ad.client_id, &e))
}

fn source_kind(source: &CredentialSource) -> &'static str {
    match source {
        CredentialSource::ClientSecret(_) => "ClientSecret",
        CredentialSource::Path { .. } => "Path",
        CredentialSource::Base64Encoded { .. } => "Base64Encoded",
        CredentialSource::SignedAssertionFile(_) => "SignedAssertionFilePath",
        CredentialSource::ManagedIdentity { .. } => "SignedAssertionFromManagedIdentity",
    }
}

fn load_credential(source: &CredentialSource) -> Result<ClientCredential, String> {
    match source {
        CredentialSource::ClientSecret(secret) => {
            Ok(ClientCredential::secret(secret.expose_secret().to_owned()))
        }
        CredentialSource::Path { path, password } => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read CertificateDiskPath {}: {e}", path.display()))?;
            certificate(&bytes, password.as_ref())
        }
        CredentialSource::Base64Encoded { value, password } => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.expose_secret().trim())
                .map_err(|_| "Base64EncodedValue is not base64".to_owned())?;
            certificate(&bytes, password.as_ref())
        }
        CredentialSource::SignedAssertionFile(path) => {
            if !path.is_file() {
                return Err(format!(
                    "the federated token file {} does not exist",
                    path.display()
                ));
            }
            Ok(ClientCredential::federated_token_file(path.clone()))
        }
        CredentialSource::ManagedIdentity {
            client_id,
            audience,
            variables,
        } => {
            let id = match client_id {
                Some(id) => ManagedIdentityId::ClientId(id.clone()),
                None => ManagedIdentityId::SystemAssigned,
            };
            let vars = variables
                .iter()
                .map(|(name, value)| (name.clone(), value.expose_secret().to_owned()));
            let mi = ManagedIdentityCredential::from_env_vars(
                vars,
                id,
                ManagedIdentityOptions::default(),
            )
            .map_err(|e| format!("the managed identity cannot be used: {e}"))?;
            let audience = audience
                .clone()
                .unwrap_or_else(|| TOKEN_EXCHANGE_AUDIENCE.to_owned());
            Ok(ClientCredential::managed_identity_for_audience(
                mi, audience,
            ))
        }
    }
}

/// A certificate with its key in any form entra-token reads: PEM (PKCS#8, PKCS#1 or encrypted
/// PKCS#8 with `CertificatePassword`) or PKCS#12 / PFX (with `CertificatePassword`, or none).
fn certificate(bytes: &[u8], password: Option<&SecretString>) -> Result<ClientCredential, String> {
    Certificate::parse(bytes, password)
        .map(ClientCredential::certificate)
        .map_err(|e| format!("the certificate cannot be used: {e}"))
}
