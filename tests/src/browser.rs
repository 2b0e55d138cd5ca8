//! A real headless Chromium driven through WebDriver (`chromedriver` and the `fantoccini`
//! client): what the checkout page's scenarios look at the page with. Screenshots go to
//! [`artifacts_dir`]; [`decode_qr`] reads the QR codes of one with `zbarimg`; [`Site`] is a
//! little local web server that records what the browser sends (headers, paths).
//!
//! `scripts/setup.sh` installs what this needs (`chromium`, `chromium-driver`, `zbar-tools`,
//! `fonts-noto-cjk`). Every process a [`Browser`] starts (chromedriver and the browser under
//! it) is in a process group of its own, killed when the `Browser` is dropped, also when the
//! test panics; the browser's profile is a temp dir removed then.

pub use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a [`Browser`] is started.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// JavaScript on (the default) or off (Chromium's content setting, as a user turns it off).
    pub javascript: bool,
    /// The browser's languages, e.g. `zh-CN` (sent as `Accept-Language`); `en-US` by default.
    pub language: String,
    /// The window's size in CSS pixels; a phone (412×915) by default.
    pub window: (u32, u32),
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self { javascript: true, language: "en-US".into(), window: (412, 915) }
    }
}

impl BrowserOptions {
    /// With JavaScript turned off.
    pub fn without_javascript(mut self) -> Self {
        self.javascript = false;
        self
    }

    /// With these languages (`zh-CN`, or a list like `zh-CN,zh`).
    pub fn language(mut self, language: &str) -> Self {
        self.language = language.into();
        self
    }

    /// With a window of `width`×`height` CSS pixels.
    pub fn window(mut self, width: u32, height: u32) -> Self {
        self.window = (width, height);
        self
    }
}

/// One headless Chromium session under its own chromedriver.
pub struct Browser {
    client: Option<Client>,
    driver: Option<Child>,
    /// chromedriver's log and the browser's profile.
    dir: tempfile::TempDir,
    pub options: BrowserOptions,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("options", &self.options).field("dir", &self.dir.path()).finish()
    }
}

/// Where a program is: the first `names` found on `PATH`, else `fallback` if it exists.
fn find_program(names: &[&str], fallback: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    Some(PathBuf::from(fallback)).filter(|p| p.is_file())
}

fn missing(what: &str, package: &str) -> ! {
    panic!("{what} is not installed: run scripts/setup.sh (it installs Debian's `{package}`)")
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session in a new headless Chromium.
    /// Panics, naming what failed (with chromedriver's log), if either does not start.
    pub async fn start(options: BrowserOptions) -> Browser {
        let chromium = find_program(&["chromium", "chromium-browser"], "/usr/bin/chromium")
            .unwrap_or_else(|| missing("chromium", "chromium"));
        let chromedriver = find_program(&["chromedriver"], "/usr/bin/chromedriver")
            .unwrap_or_else(|| missing("chromedriver", "chromium-driver"));
        let dir = tempfile::Builder::new().prefix("paywatch-browser-").tempdir().expect("a temp dir for the browser");
        let port = crate::free_port();
        let log = dir.path().join("chromedriver.log");
        let out = std::fs::File::create(dir.path().join("chromedriver.out")).expect("chromedriver's output file");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            // Its own process group: the browser it starts is in it, and Drop kills them all.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let mut browser = Browser { client: None, driver: Some(driver), dir, options: options.clone() };
        browser.wait_for_driver(port).await;

        let (w, h) = options.window;
        let profile = browser.dir.path().join("profile");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--hide-scrollbars".into(),
            "--force-device-scale-factor=1".into(),
            format!("--window-size={w},{h}"),
            format!("--lang={}", options.language),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut prefs = json!({ "intl.accept_languages": options.language });
        if !options.javascript {
            // What a user's "Don't allow sites to use JavaScript" sets (2 = block).
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let chrome_options = json!({ "binary": chromium, "args": args, "prefs": prefs });
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), chrome_options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver did not open a Chromium session ({}): {e}\n{}",
                    chromium.display(),
                    browser.driver_log()
                )
            });
        // The window is the viewport in headless mode, but make sure of the inner size too.
        browser.client = Some(client);
        browser.fit_viewport(w, h).await;
        browser
    }

    async fn wait_for_driver(&mut self, port: u16) {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("a reqwest client");
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("http://127.0.0.1:{port}/status")).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == true {
                        return;
                    }
                }
            }
            if let Some(status) = self.driver.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("chromedriver exited at startup with {status}\n{}", self.driver_log());
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!("chromedriver did not answer on port {port} within 30 s\n{}", self.driver_log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resizes the window until the viewport (what screenshots show) is `w`×`h`.
    async fn fit_viewport(&self, w: u32, h: u32) {
        let inner = self.execute("return [window.innerWidth, window.innerHeight]", vec![]).await;
        let (iw, ih) = (inner[0].as_u64().unwrap_or(0) as u32, inner[1].as_u64().unwrap_or(0) as u32);
        if (iw, ih) != (w, h) && iw > 0 {
            let (_, _, ow, oh) = self.client().get_window_rect().await.expect("the window's rect");
            let _ = self.client().set_window_size(ow as u32 + w - iw, oh as u32 + h - ih).await;
        }
    }

    /// chromedriver's process id (its process group's too) while it runs.
    pub fn driver_pid(&self) -> Option<u32> {
        self.driver.as_ref().map(Child::id)
    }

    /// chromedriver's output and the tail of its log, for failure messages.
    pub fn driver_log(&self) -> String {
        let out = std::fs::read_to_string(self.dir.path().join("chromedriver.out")).unwrap_or_default();
        let log = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: String =
            log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        format!("chromedriver output:\n{out}\nchromedriver log (last 40 lines):\n{tail}")
    }

    /// The WebDriver session (for what the helpers here do not cover).
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Opens `url` and waits for its load.
    pub async fn goto(&self, url: &str) {
        self.client().goto(url).await.unwrap_or_else(|e| panic!("the browser could not open {url}: {e}"));
    }

    /// Reloads the page.
    pub async fn refresh(&self) {
        self.client().refresh().await.unwrap_or_else(|e| panic!("the browser could not reload the page: {e}"));
    }

    /// The address the browser is at.
    pub async fn current_url(&self) -> String {
        self.client().current_url().await.unwrap_or_else(|e| panic!("no current URL: {e}")).to_string()
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.client().source().await.unwrap_or_else(|e| panic!("no page source: {e}"))
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page; its return value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client().execute(script, args).await.unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    /// The first element matching `css`, or `None`.
    pub async fn find(&self, css: &str) -> Option<fantoccini::elements::Element> {
        match self.client().find(Locator::Css(css)).await {
            Ok(e) => Some(e),
            Err(e) if e.is_no_such_element() => None,
            Err(e) => panic!("looking for {css:?} failed: {e}"),
        }
    }

    /// Whether an element matches `css`.
    pub async fn exists(&self, css: &str) -> bool {
        self.find(css).await.is_some()
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("looking for {css:?} failed: {e}"))
            .len()
    }

    async fn must_find(&self, css: &str) -> fantoccini::elements::Element {
        match self.find(css).await {
            Some(e) => e,
            None => panic!("no element matches {css:?} on {}:\n{}", self.current_url().await, self.excerpt().await),
        }
    }

    /// The start of the page's HTML, for failure messages.
    async fn excerpt(&self) -> String {
        let s = self.source().await;
        s.chars().take(4000).collect()
    }

    /// `op` on the first element matching `css`, found again when the page replaced it in
    /// between (a stale reference: the page's script rewrites what it updates). Panics naming
    /// `what` on any other error.
    async fn on_element<T>(
        &self,
        css: &str,
        what: &str,
        op: impl AsyncFn(&fantoccini::elements::Element) -> Result<T, fantoccini::error::CmdError>,
    ) -> T {
        let mut attempts = 0;
        loop {
            let e = self.must_find(css).await;
            match op(&e).await {
                Ok(v) => return v,
                Err(err) if err.is_stale_element_reference() && attempts < 20 => attempts += 1,
                Err(err) => panic!("{what} of {css:?} failed: {err}"),
            }
        }
    }

    /// Attribute `name` of the first element matching `css` (panics if none matches; `None` if
    /// it lacks the attribute).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.on_element(css, &format!("reading {name:?}"), async |e| e.attr(name).await).await
    }

    /// The rendered text of the first element matching `css` (empty when it is hidden).
    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, "reading the text", async |e| e.text().await).await
    }

    /// The text of the first element matching `css` whether shown or not (`textContent`).
    pub async fn text_content(&self, css: &str) -> String {
        self.on_element(css, "reading textContent", async |e| e.prop("textContent").await).await.unwrap_or_default()
    }

    /// Whether the first element matching `css` is shown.
    pub async fn is_displayed(&self, css: &str) -> bool {
        self.on_element(css, "checking whether it is shown", async |e| e.is_displayed().await).await
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.on_element(css, "clicking", async |e| e.click().await).await
    }

    /// Types `text` into the first element matching `css` (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, "clearing", async |e| e.clear().await).await;
        self.on_element(css, "typing", async |e| e.send_keys(text).await).await
    }

    /// Presses `key` on the first element matching `css` (it gets the focus first).
    pub async fn press(&self, css: &str, key: Key) {
        let keys = key.to_string();
        self.on_element(css, &format!("pressing {key:?}"), async |e| e.send_keys(&keys).await).await
    }

    /// The `id`, else the `data-method`, of the element that has the focus (`None`: none has).
    pub async fn focused(&self) -> Option<String> {
        let v = self
            .execute("const e = document.activeElement; return e && (e.id || e.getAttribute('data-method'))", vec![])
            .await;
        v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// Polls (every 25 ms) attribute `name` of the first element matching `css` until `done`
    /// holds for it (`None`: no such element or attribute); returns the value it held for.
    /// Panics after `timeout`, naming `what`, the last value, and a screenshot of the page.
    pub async fn wait_for(
        &self,
        css: &str,
        name: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(Option<&str>) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = match self.find(css).await {
                Some(e) => e.attr(name).await.ok().flatten(),
                None => None,
            };
            if done(value.as_deref()) {
                return value;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("timeout-{}", slug(what))).await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}: {css:?}[{name}] is {value:?}; screenshot {}\n{}",
                    shot.display(),
                    self.excerpt().await
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits (10 s at most) until every image shown on the page has loaded (a QR code's SVG
    /// is its own request: a screenshot taken before it arrives shows an empty frame).
    pub async fn wait_for_images(&self) {
        let script = "return Array.from(document.images).filter(i => i.offsetParent !== null)\
            .every(i => i.complete && i.naturalWidth > 0)";
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.execute(script, vec![]).await != Value::Bool(true) {
            if Instant::now() > deadline {
                let shot = self.screenshot("timeout-images").await;
                panic!(
                    "images on {} did not load within 10 s; screenshot {}",
                    self.current_url().await,
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Scrolls the first element matching `css` into the middle of the viewport.
    pub async fn scroll_to(&self, css: &str) {
        self.must_find(css).await;
        let script = "document.querySelector(arguments[0]).scrollIntoView({block: 'center', inline: 'center'})";
        self.execute(script, vec![Value::from(css)]).await;
    }

    /// Polls until the browser is at an address `done` accepts; returns it.
    pub async fn wait_for_url(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.current_url().await;
            if done(&url) {
                return url;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("timeout-{}", slug(what))).await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}: the browser is at {url}; screenshot {}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the viewport written to [`artifacts_dir`] as `NAME.png` (printed); its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client().screenshot().await.unwrap_or_else(|e| panic!("screenshot {name:?} failed: {e}"));
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Ends the session and chromedriver (Drop does it too, without waiting for the session).
    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
        }
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.driver.take() {
            // The whole group: chromedriver and every browser process it started.
            let _ =
                Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).stderr(Stdio::null()).status();
            let _ = child.kill();
            let _ = child.wait();
            // The browser's processes are not our children: wait (a little) until they are gone.
            let deadline = Instant::now() + Duration::from_secs(5);
            while group_alive(child.id()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Whether any process of process group `pgid` is still there.
pub fn group_alive(pgid: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session's client is a task of the test's runtime: dropping it is enough once the
        // processes are gone.
        self.client.take();
        self.kill();
    }
}

fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// Where screenshots go: `$CARGO_TARGET_DIR/test-artifacts/checkout/` (the target dir of the
/// running test binary when the variable is unset), created on first use.
pub fn artifacts_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
            // Tests run from <target>/debug/deps/.
            let exe = std::env::current_exe().expect("the test's path");
            exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(|| crate::workspace_root().join("target"))
        });
        let dir = target.join("test-artifacts").join("checkout");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        eprintln!("browser artifacts: {}", dir.display());
        dir
    })
    .clone()
}

/// The QR codes `zbarimg` finds in the image at `png`, each code's text (empty: none found).
pub fn decode_qr(png: &Path) -> Vec<String> {
    let out = match Command::new("zbarimg").args(["--raw", "-q", "-Sdisable", "-Sqrcode.enable"]).arg(png).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("zbarimg is not installed: run scripts/setup.sh (it installs Debian's `zbar-tools`)")
        }
        Err(e) => panic!("cannot run zbarimg on {}: {e}", png.display()),
    };
    // zbarimg exits 4 when it found no code.
    match out.status.code() {
        Some(0) => String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect(),
        Some(4) => Vec::new(),
        _ => {
            panic!("zbarimg failed on {} with {}: {}", png.display(), out.status, String::from_utf8_lossy(&out.stderr))
        }
    }
}

/// One request a [`Site`] got.
#[derive(Debug, Clone)]
pub struct Visit {
    pub path: String,
    pub query: Option<String>,
    /// Header names lowercase.
    pub headers: BTreeMap<String, String>,
}

type Pages = Arc<Mutex<BTreeMap<String, String>>>;

/// A local web server on a free loopback port: serves the HTML pages it is given (by path; 404
/// otherwise) and records every request. Stops when dropped.
pub struct Site {
    pub port: u16,
    pages: Pages,
    visits: Arc<Mutex<Vec<Visit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").field("port", &self.port).finish()
    }
}

impl Site {
    pub async fn start() -> Site {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the site");
        let port = listener.local_addr().expect("its address").port();
        let pages: Pages = Arc::default();
        let visits: Arc<Mutex<Vec<Visit>>> = Arc::default();
        let (p, v) = (pages.clone(), visits.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let (p, v) = (p.clone(), v.clone());
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
                    .collect();
                let path = uri.path().to_string();
                v.lock().unwrap().push(Visit { path: path.clone(), query: uri.query().map(str::to_string), headers });
                let page = p.lock().unwrap().get(&path).cloned();
                match page {
                    Some(html) => (
                        axum::http::StatusCode::OK,
                        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                        html,
                    ),
                    None => (
                        axum::http::StatusCode::NOT_FOUND,
                        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        "not found".to_string(),
                    ),
                }
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Site { port, pages, visits, task }
    }

    /// Serves `html` at `path`.
    pub fn page(&self, path: &str, html: &str) {
        self.pages.lock().unwrap().insert(path.to_string(), html.to_string());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far.
    pub fn visits(&self) -> Vec<Visit> {
        self.visits.lock().unwrap().clone()
    }

    /// The requests for `path` so far.
    pub fn visits_of(&self, path: &str) -> Vec<Visit> {
        self.visits().into_iter().filter(|v| v.path == path).collect()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}
