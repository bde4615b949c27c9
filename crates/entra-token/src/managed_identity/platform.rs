//! The platforms that serve managed identity tokens: what each is called and what to check when
//! it cannot give one (a leaf module: the error and the endpoint both name it).

/// The platform that serves the managed identity's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentitySource {
    /// The instance metadata service of VMs and scale sets (`http://169.254.169.254`, or
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST`).
    Imds,
    /// App Service, Functions, Container Apps: `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService,
    /// Azure Arc-enabled servers: `IDENTITY_ENDPOINT` with `IMDS_ENDPOINT`, and the challenge file.
    AzureArc,
    /// Azure Cloud Shell: `MSI_ENDPOINT`.
    CloudShell,
    /// Service Fabric: `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and `IDENTITY_SERVER_THUMBPRINT`.
    ServiceFabric,
}

impl ManagedIdentitySource {
    /// A stable name: `imds`, `app_service`, `azure_arc`, `cloud_shell`, `service_fabric`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imds => "imds",
            Self::AppService => "app_service",
            Self::AzureArc => "azure_arc",
            Self::CloudShell => "cloud_shell",
            Self::ServiceFabric => "service_fabric",
        }
    }

    /// Whether a user-assigned identity can be asked for at run time.
    pub fn supports_user_assigned(self) -> bool {
        matches!(self, Self::Imds | Self::AppService)
    }

    /// What to check when the endpoint cannot give a token.
    pub(crate) fn fix(self) -> &'static str {
        match self {
            Self::Imds => {
                "check that the VM or scale set has this managed identity assigned and reaches \
                 169.254.169.254; 410 means its identity agent is still starting and 429 that this \
                 machine asks too often (retry later)"
            }
            Self::AppService => {
                "check that the app has this managed identity turned on (Identity blade) and that \
                 IDENTITY_ENDPOINT and IDENTITY_HEADER are the platform's"
            }
            Self::AzureArc => {
                "check that the Azure Connected Machine agent (himds) runs and that this process may \
                 read its key files"
            }
            Self::CloudShell => "check that this runs in Azure Cloud Shell (MSI_ENDPOINT)",
            Self::ServiceFabric => {
                "check the application's managed identity in its manifest and the cluster's \
                 IDENTITY_ENDPOINT"
            }
        }
    }
}

impl std::fmt::Display for ManagedIdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Imds => "the instance metadata service (IMDS)",
            Self::AppService => "App Service (IDENTITY_ENDPOINT)",
            Self::AzureArc => "Azure Arc (IDENTITY_ENDPOINT, IMDS_ENDPOINT)",
            Self::CloudShell => "Cloud Shell (MSI_ENDPOINT)",
            Self::ServiceFabric => "Service Fabric (IDENTITY_ENDPOINT, IDENTITY_SERVER_THUMBPRINT)",
        })
    }
}
