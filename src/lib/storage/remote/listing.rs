//! Input listings by the harvester's own signed ListObjectsV2 requests.
//!
//! S3 keys are any bytes: `a//b.csv`, `a/../b.csv` and `a/./b.csv` are legal, and
//! robots' exports do produce them. object_store parses every key of a listing page
//! into its own path type and fails the whole page (and with it the continuation
//! token) on the first such key, so one odd name would hide every object listed
//! after it. Here each page is read whole: the keys object_store can address are
//! listed as objects, the others are kept by their exact names for the caller to
//! record as bad sources.

use std::time::{Duration, SystemTime};

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{
    HttpClient, HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector,
};
use object_store::path::Path as ObjectPath;
use object_store::ClientOptions;

use super::{classify, short, ListedObject, ObjectUrl};
use crate::error::{HarvestError, RemoteFailure};

/// How many times a listing request that failed for a reason a retry may fix is sent
/// again, as object_store's own requests are.
const RETRIES: u32 = 2;

/// What `send` gives, sent again up to [`RETRIES`] times while the failure is one a
/// retry may fix.
async fn with_retries<T, F>(mut send: impl FnMut() -> F) -> Result<T, HarvestError>
where
    F: std::future::Future<Output = Result<T, HarvestError>>,
{
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 0;
    loop {
        match send().await {
            Err(e) if e.is_retryable() && attempt < RETRIES => {
                attempt += 1;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            result => return result,
        }
    }
}

/// What a listing of a prefix found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyListing {
    /// The objects whose keys can be fetched.
    pub objects: Vec<ListedObject>,
    /// Objects whose keys have a `.`, `..` or empty segment, by their exact names:
    /// no request of the store's client can name them.
    pub unaddressable: Vec<ObjectUrl>,
}

/// Sends a bucket's listing requests: its URL as object_store forms it (path style
/// below an endpoint unless virtual-hosted style is asked for), its region for
/// signing, and a client with the same timeouts as the store's.
#[derive(Debug, Clone)]
pub(super) struct Lister {
    http: HttpClient,
    bucket_url: String,
    region: String,
}

impl Lister {
    pub(super) fn new(
        bucket: &str,
        builder: &AmazonS3Builder,
        client: &ClientOptions,
    ) -> Result<Lister, HarvestError> {
        let region = builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".to_string());
        let virtual_hosted = builder
            .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
            .is_some_and(|v| v == "true");
        let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
        let bucket_url = match (endpoint, virtual_hosted) {
            (Some(endpoint), true) => endpoint,
            (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
            (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        };
        let http =
            ReqwestConnector::default()
                .connect(client)
                .map_err(|e| HarvestError::Remote {
                    url: format!("s3://{bucket}"),
                    problem: format!("cannot configure the client: {}", short(&e.to_string())),
                    failure: RemoteFailure::Config,
                })?;
        Ok(Lister {
            http,
            bucket_url,
            region,
        })
    }

    /// Every object whose key starts with `prefix`, page after page.
    pub(super) async fn list(
        &self,
        store: &AmazonS3,
        bucket: &str,
        prefix: &str,
    ) -> Result<KeyListing, HarvestError> {
        let url = format!("s3://{bucket}/{prefix}");
        let mut listing = KeyListing::default();
        let mut token: Option<String> = None;
        loop {
            let page = with_retries(|| self.page(store, prefix, token.as_deref(), &url)).await?;
            for entry in page.contents {
                let listed_url = ObjectUrl {
                    bucket: bucket.to_string(),
                    key: entry.key,
                };
                if ObjectPath::parse(&listed_url.key).is_err() {
                    listing.unaddressable.push(listed_url);
                    continue;
                }
                let last_modified = chrono::DateTime::parse_from_rfc3339(&entry.last_modified)
                    .map_err(|_| not_a_listing(&url, "a LastModified that is not a time"))?;
                listing.objects.push(ListedObject {
                    url: listed_url,
                    size: entry.size,
                    last_modified: SystemTime::from(last_modified),
                    etag: entry.e_tag.unwrap_or_default(),
                });
            }
            match (page.is_truncated, page.next_continuation_token) {
                (true, Some(next)) => token = Some(next),
                (true, None) => {
                    return Err(not_a_listing(
                        &url,
                        "a truncated page without a continuation token",
                    ))
                }
                (false, _) => return Ok(listing),
            }
        }
    }

    /// One ListObjectsV2 request, signed with the store's credentials.
    async fn page(
        &self,
        store: &AmazonS3,
        prefix: &str,
        token: Option<&str>,
        url: &str,
    ) -> Result<ListPage, HarvestError> {
        let credential = store
            .credentials()
            .get_credential()
            .await
            .map_err(|e| classify(url, e))?;
        let mut query = vec![("list-type", "2"), ("prefix", prefix)];
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        let query: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", strict_encode(v)))
            .collect();
        let mut request = HttpRequest::new(HttpRequestBody::empty());
        *request.uri_mut() = format!("{}?{}", self.bucket_url, query.join("&"))
            .parse()
            .map_err(|_| HarvestError::Remote {
                url: url.to_string(),
                problem: "the endpoint and bucket make no request URL".into(),
                failure: RemoteFailure::Config,
            })?;
        AwsAuthorizer::new(&credential, "s3", &self.region).authorize(&mut request, None);
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| classify(url, generic(e.to_string())))?;
        let status = response.status();
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|e| classify(url, generic(e.to_string())))?;
        if !status.is_success() {
            let text = format!(
                "Client error with status {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
            );
            return Err(classify(url, generic(text)));
        }
        quick_xml::de::from_reader(body.as_ref())
            .map_err(|_| not_a_listing(url, "an answer that is not an S3 listing"))
    }
}

/// An error text as object_store would have given it, for [`classify`].
fn generic(text: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: text.into(),
    }
}

/// A listing the endpoint answered but that cannot be read: worth a retry, as a
/// server failing mid-answer is the likely cause.
fn not_a_listing(url: &str, what: &str) -> HarvestError {
    HarvestError::Remote {
        url: url.to_string(),
        problem: format!("the object store failed: {what}"),
        failure: RemoteFailure::Unreachable,
    }
}

/// A query value percent-encoded as SigV4 canonicalizes it (all but `A-Za-z0-9-_.~`),
/// so the request sent and the request signed are the same bytes.
fn strict_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A ListObjectsV2 page: what of it a listing uses.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    contents: Vec<ListEntry>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntry {
    key: String,
    size: u64,
    last_modified: String,
    e_tag: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_every_key_as_it_is() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>logs</Name><Prefix>in/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>
<NextContinuationToken>t/2=</NextContinuationToken>
<Contents><Key>in/a//b &amp; c.csv</Key><LastModified>2024-05-01T10:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>in/../x.csv</Key><LastModified>2024-05-01T10:00:01.000Z</LastModified><Size>3</Size></Contents>
</ListBucketResult>"#;
        let page: ListPage = quick_xml::de::from_reader(xml.as_bytes()).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("t/2="));
        let keys: Vec<&str> = page.contents.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["in/a//b & c.csv", "in/../x.csv"]);
        assert_eq!(page.contents[0].e_tag.as_deref(), Some("\"e1\""));
        assert_eq!(page.contents[1].size, 3);
        let empty = r#"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"#;
        let page: ListPage = quick_xml::de::from_reader(empty.as_bytes()).unwrap();
        assert!(page.contents.is_empty() && !page.is_truncated);
    }

    #[test]
    fn query_values_are_encoded_as_they_are_signed() {
        assert_eq!(
            strict_encode("in/cell=7/a b+c~"),
            "in%2Fcell%3D7%2Fa%20b%2Bc~"
        );
    }
}
