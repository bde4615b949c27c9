//! Microsoft's first-party resources whose access tokens get sent to the wrong API: ONE table of
//! their application (client) ids and resource URIs, so that a token meant for one of them is
//! refused with its name and the fix instead of a generic `audience_mismatch`.
//!
//! Sources (read 2026-12 from stored snapshots):
//! - app ids and resource URIs: the daily dump of first-party service principals' `appId` and
//!   `servicePrincipalNames` from Microsoft Graph,
//!   <https://github.com/maciejporebski/azure-ad-first-party-apps-permissions> (`apps/<DisplayName>.md`,
//!   commit `dfafb9cd`, 2026-08-22);
//! - sovereign-cloud URIs: Azure CLI's cloud table,
//!   <https://github.com/Azure/azure-cli/blob/dev/src/azure-cli-core/azure/cli/core/cloud.py>, and
//!   <https://learn.microsoft.com/graph/deployments> (Microsoft Graph national clouds);
//! - Key Vault's US Government app id:
//!   <https://learn.microsoft.com/azure/azure-government/compare-azure-government-global-azure>;
//! - how `aud` is written: in v2.0 access tokens always the resource's app id, in v1.0 tokens the
//!   app id or the resource URI exactly as the client asked for it, so with or without a trailing
//!   slash (<https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference>).
//!   Matching ignores one trailing `/` and ASCII case.
//!
//! Left out because they could not be verified: Storage, Service Bus and Event Hubs URIs in the US
//! Government and China clouds, the Azure SQL China URI and the Synapse app id.

/// A Microsoft first-party API: its name and every `aud` value its access tokens carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicrosoftResource {
    /// The display name, e.g. `Azure Key Vault`.
    pub name: &'static str,
    /// Application (client) ids, lower case (one per cloud where they differ).
    pub app_ids: &'static [&'static str],
    /// Resource URIs without a trailing slash, the public cloud's first.
    pub resource_uris: &'static [&'static str],
}

impl MicrosoftResource {
    /// The scope a client asked for to get this token, e.g. `https://vault.azure.net/.default`.
    pub fn default_scope(&self) -> String {
        match self.resource_uris.first() {
            Some(uri) => format!("{uri}/.default"),
            None => format!("{}/.default", self.app_ids.first().copied().unwrap_or("")),
        }
    }

    fn matches(&self, aud: &str) -> bool {
        let aud = aud.strip_suffix('/').unwrap_or(aud);
        self.app_ids.iter().any(|id| id.eq_ignore_ascii_case(aud))
            || self
                .resource_uris
                .iter()
                .any(|uri| uri.eq_ignore_ascii_case(aud))
    }
}

/// Microsoft Graph (kept first: its tokens are the ones most often sent to the wrong API).
pub const MICROSOFT_GRAPH: MicrosoftResource = MicrosoftResource {
    name: "Microsoft Graph",
    app_ids: &["00000003-0000-0000-c000-000000000000"],
    resource_uris: &[
        "https://graph.microsoft.com",
        "https://canary.graph.microsoft.com",
        "https://ags.windows.net",
        // US Government L4 and DoD L5 (learn.microsoft.com/graph/deployments)
        "https://graph.microsoft.us",
        "https://dod-graph.microsoft.us",
        // China (21Vianet)
        "https://microsoftgraph.chinacloudapi.cn",
    ],
};

/// The table (see the module docs for the sources).
pub const MICROSOFT_RESOURCES: &[MicrosoftResource] = &[
    MICROSOFT_GRAPH,
    MicrosoftResource {
        // "Windows Azure Active Directory" in the first-party dump
        name: "Azure AD Graph",
        app_ids: &["00000002-0000-0000-c000-000000000000"],
        resource_uris: &[
            "https://graph.windows.net",
            "00000002-0000-0000-c000-000000000000/graph.windows.net",
            "00000002-0000-0000-c000-000000000000/directory.windows.net",
            // US Government (azure-cli >= 2.76 active_directory_graph_resource_id)
            "https://graph.microsoftazure.us",
            // China (azure-cli cloud.py; the research marks it medium confidence)
            "https://graph.chinacloudapi.cn",
        ],
    },
    MicrosoftResource {
        // "Windows Azure Service Management API"; ARM's authentication.audiences lists both URIs
        name: "Azure Resource Manager",
        app_ids: &["797f4846-ba00-4fd7-ba43-dac1f8f63013"],
        resource_uris: &[
            "https://management.azure.com",
            "https://management.core.windows.net",
            "https://management.usgovcloudapi.net",
            "https://management.core.usgovcloudapi.net",
            "https://management.chinacloudapi.cn",
            "https://management.core.chinacloudapi.cn",
        ],
    },
    MicrosoftResource {
        name: "Azure Storage",
        app_ids: &["e406a681-f3d4-42a8-90b6-c2b029497af1"],
        resource_uris: &["https://storage.azure.com"],
    },
    MicrosoftResource {
        name: "Azure Key Vault",
        // public cloud, US Government (a different app id)
        app_ids: &[
            "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
            "7e7c393b-45d0-48b1-a35e-2905ddf8183c",
        ],
        resource_uris: &[
            "https://vault.azure.net",
            "https://vault.usgovcloudapi.net",
            "https://vault.azure.cn",
        ],
    },
    MicrosoftResource {
        name: "Azure DevOps",
        app_ids: &["499b84ac-1321-427f-aa17-267ca6975798"],
        resource_uris: &[
            "https://app.vssps.visualstudio.com",
            "https://analytics.dev.azure.com",
        ],
    },
    MicrosoftResource {
        name: "Azure SQL Database",
        app_ids: &["022907d3-0f1b-48f7-badc-1ba6abab6d66"],
        resource_uris: &[
            "https://database.windows.net",
            "https://sql.azuresynapse.net",
            "https://database.usgovcloudapi.net",
        ],
    },
    MicrosoftResource {
        name: "Azure Service Bus",
        app_ids: &["80a10ef9-8168-493d-abf9-3297c4ef6e3c"],
        resource_uris: &["https://servicebus.azure.net"],
    },
    MicrosoftResource {
        name: "Azure Event Hubs",
        app_ids: &["80369ed6-5f11-4dd9-bef3-692475845e77"],
        resource_uris: &["https://eventhubs.azure.net"],
    },
    MicrosoftResource {
        name: "Office 365 Exchange Online",
        app_ids: &["00000002-0000-0ff1-ce00-000000000000"],
        resource_uris: &[
            "https://outlook.office365.com",
            "https://outlook.office.com",
            "https://ps.outlook.com",
            "https://outlook.com",
            "00000002-0000-0ff1-ce00-000000000000/outlook.office365.com",
            "https://outlook.office365.us",
            "https://outlook-dod.office365.us",
        ],
    },
    MicrosoftResource {
        // the tenant's https://{tenant}.sharepoint.com is a resource too (a wildcard SPN): not listed
        name: "Office 365 SharePoint Online",
        app_ids: &["00000003-0000-0ff1-ce00-000000000000"],
        resource_uris: &["api://00000003-0000-0ff1-ce00-000000000000"],
    },
    MicrosoftResource {
        // "KustoService": cluster URLs are per cluster, so only the app id is listed
        name: "Azure Data Explorer",
        app_ids: &["2746ea77-4702-4b45-80ca-3c97e680e8b7"],
        resource_uris: &[],
    },
    MicrosoftResource {
        name: "Azure Cosmos DB",
        app_ids: &["a232010e-820c-4083-83bb-3ace5fc29d0b"],
        resource_uris: &["https://cosmos.azure.com", "https://cosmos.azure.cn"],
    },
    MicrosoftResource {
        name: "Log Analytics API",
        app_ids: &["ca7f3f0b-7d91-482c-8e09-c5d840d0eac5"],
        resource_uris: &[
            "https://api.loganalytics.io",
            "https://api.loganalytics.us",
            "https://api.loganalytics.azure.cn",
        ],
    },
    MicrosoftResource {
        name: "Application Insights API",
        app_ids: &["f5c26e74-f226-4ae8-85f0-b4af0080ac9e"],
        resource_uris: &[
            "https://api.applicationinsights.io",
            "https://api.applicationinsights.us",
            "https://api.applicationinsights.azure.cn",
        ],
    },
    MicrosoftResource {
        name: "Azure Monitor",
        app_ids: &["e933bd07-d2ee-4f1d-933c-3752b819567b"],
        resource_uris: &["https://monitor.azure.com"],
    },
    MicrosoftResource {
        name: "Power BI Service",
        app_ids: &["00000009-0000-0000-c000-000000000000"],
        resource_uris: &[
            "https://analysis.windows.net/powerbi/api",
            "https://api.fabric.microsoft.com",
        ],
    },
    MicrosoftResource {
        name: "Azure Cognitive Services",
        app_ids: &["7d312290-28c8-473c-a0ed-8e53749b6d6d"],
        resource_uris: &[
            "https://cognitiveservices.azure.com",
            "https://cognitiveservices.azure.us",
        ],
    },
    MicrosoftResource {
        name: "Azure Data Lake",
        app_ids: &["e9f49c6b-5ce5-44c8-925d-015017e9f7ad"],
        resource_uris: &["https://datalake.azure.net"],
    },
    MicrosoftResource {
        name: "Azure Batch",
        app_ids: &["ddbf3205-c6bd-46ae-8127-60eb93363864"],
        resource_uris: &[
            "https://batch.core.windows.net",
            "https://batch.core.usgovcloudapi.net",
            "https://batch.chinacloudapi.cn",
        ],
    },
    MicrosoftResource {
        name: "Azure Database for PostgreSQL and MySQL",
        app_ids: &["123cd850-d9df-40bd-94d5-c9f07b7fa203"],
        resource_uris: &[
            "https://ossrdbms-aad.database.windows.net",
            "https://ossrdbms-aad.database.usgovcloudapi.net",
            "https://ossrdbms-aad.database.chinacloudapi.cn",
        ],
    },
];

/// The Microsoft first-party resource whose access tokens carry `aud`, if any: by app id or
/// resource URI, ignoring ASCII case and one trailing slash.
///
/// ```
/// use entra_auth::well_known::microsoft_resource;
/// assert_eq!(microsoft_resource("https://vault.azure.net/").unwrap().name, "Azure Key Vault");
/// assert_eq!(microsoft_resource("00000002-0000-0000-C000-000000000000").unwrap().app_ids[0],
///            "00000002-0000-0000-c000-000000000000");
/// assert!(microsoft_resource("api://my-api").is_none());
/// ```
pub fn microsoft_resource(aud: &str) -> Option<&'static MicrosoftResource> {
    MICROSOFT_RESOURCES.iter().find(|r| r.matches(aud))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_matches_by_app_id_and_each_uri_with_and_without_slash() {
        for r in MICROSOFT_RESOURCES {
            assert!(!r.app_ids.is_empty(), "{}", r.name);
            for id in r.app_ids {
                assert_eq!(microsoft_resource(id), Some(r), "{id}");
                assert_eq!(id.to_ascii_lowercase(), *id, "app ids are lower case");
                assert_eq!(microsoft_resource(&id.to_ascii_uppercase()), Some(r));
            }
            for uri in r.resource_uris {
                assert!(!uri.ends_with('/'), "{uri}: stored without the slash");
                assert_eq!(microsoft_resource(uri), Some(r), "{uri}");
                assert_eq!(microsoft_resource(&format!("{uri}/")), Some(r), "{uri}/");
            }
        }
    }

    #[test]
    fn no_audience_belongs_to_two_resources() {
        let mut all: Vec<String> = MICROSOFT_RESOURCES
            .iter()
            .flat_map(|r| r.app_ids.iter().chain(r.resource_uris))
            .map(|s| s.to_ascii_lowercase())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    #[test]
    fn lookalikes_and_api_uris_do_not_match() {
        for aud in [
            "https://graph.windows.net.evil.example",
            "https://graph.windows.net//",
            "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
            "00000002-0000-0000-c000-00000000000",
            "",
            "/",
        ] {
            assert_eq!(microsoft_resource(aud), None, "{aud}");
        }
    }

    #[test]
    fn default_scope_names_the_public_uri_or_the_app_id() {
        assert_eq!(
            microsoft_resource("https://management.core.windows.net/")
                .unwrap()
                .default_scope(),
            "https://management.azure.com/.default"
        );
        assert_eq!(
            microsoft_resource("2746ea77-4702-4b45-80ca-3c97e680e8b7")
                .unwrap()
                .default_scope(),
            "2746ea77-4702-4b45-80ca-3c97e680e8b7/.default"
        );
    }
}
