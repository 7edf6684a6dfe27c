//! Test support for the portal's HTTP tests: a browser-like client that logs in through the
//! built-in test IdP's picker page, keeps its cookies and sends the session's CSRF token.
#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A browser: a cookie jar, and the session's CSRF token once logged in.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
}

impl Browser {
    /// A new browser with an empty cookie jar, for the server at `base` (ending in `/`).
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("client"),
            base: base.to_owned(),
            csrf: None,
        }
    }

    /// Logs in through the realm's identity provider, picking `subject` on the test IdP's
    /// page (a patient's subject is `test-` and the personnummer), or typing it in when it is
    /// `typed:` and an identity. Returns where the login landed.
    pub async fn login(&mut self, realm: &str, subject: &str) -> String {
        let picker = self
            .http
            .get(format!("{}api/v1/auth/{realm}/login", self.base))
            .send()
            .await
            .expect("login redirect");
        assert_eq!(picker.status(), StatusCode::OK, "the IdP's picker page");
        let url = picker.url().clone();
        let page = picker.text().await.expect("picker page");
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        if let Some(typed) = subject.strip_prefix("typed:") {
            // The picker's free-text field: an identity the test IdP does not list.
            form.push(("subject".into(), String::new()));
            form.push(("free_text".into(), typed.into()));
        } else {
            assert!(
                page.contains(&format!("value=\"{subject}\"")),
                "{subject} is offered"
            );
            form.push(("subject".into(), subject.into()));
        }
        let mut action = url.clone();
        action.set_query(None);
        let landed = self
            .http
            .post(action)
            .form(&form)
            .send()
            .await
            .expect("pick");
        let landing = landed.url().to_string();
        if !landing.contains("error=") {
            let (status, session) = self.get("session").await;
            assert_eq!(status, StatusCode::OK, "{session}");
            self.csrf = session["csrf_token"].as_str().map(str::to_owned);
        }
        landing
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}api/v1/{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(self.url(path)).send().await.expect("GET");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A request with exactly the CSRF header and `Origin` given (none when `None`).
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        csrf: Option<&str>,
        origin: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
}

/// The editable part of an account, as `PUT /me` takes it.
pub fn profile(account: &Value) -> Value {
    json!({
        "given_name": account["given_name"],
        "family_name": account["family_name"],
        "mobile": account["mobile"],
        "email": account["email"],
        "settings": account["settings"],
    })
}
