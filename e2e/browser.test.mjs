// Real-browser end-to-end test of the interactive documentation: Debian's chromium (headless), driven by
// playwright-core, signs in through Swagger UI's "Authorize" on the development issuer's login page, calls
// GET and POST /api/reports with "Try it out", and finds the posted report on the home page. A screenshot
// of each step goes to test-output/e2e/.
//
// Run through e2e/browser.sh, which builds and starts the service and sets BASE_URL.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const BASE_URL = process.env.BASE_URL;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT_DIR = process.env.E2E_OUT_DIR || path.join(HERE, "..", "test-output", "e2e");
const STEP_TIMEOUT_MS = 30_000;
const READ_SCOPE = "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c/weather.read";
const WRITE_SCOPE = "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c/weather.write";
const DESCRIPTION = `Foggy morning, seen from the e2e test ${process.pid}-${Date.now()}`;

describe("Swagger UI at /docs signs in through the development issuer and calls the API", () => {
  let context;
  let page;
  let userDataDir;
  const pageErrors = [];

  // Viewport screenshots: Swagger UI's dialog is fixed to the viewport.
  const shot = async (target, name) => {
    await target.screenshot({ path: path.join(OUT_DIR, `${name}.png`) });
  };
  const oauthContainer = () =>
    page.locator(".dialog-ux .modal-ux .auth-container").filter({ has: page.locator("h4", { hasText: "OAuth2" }) });

  before(async () => {
    assert.ok(BASE_URL, "BASE_URL is not set: run bash e2e/browser.sh");
    mkdirSync(OUT_DIR, { recursive: true });
    userDataDir = mkdtempSync(path.join(tmpdir(), "weather-e2e-chromium-"));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: STEP_TIMEOUT_MS,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
      ],
    });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    // Every page (Swagger UI, the issuer's login popup, the redirect page) must run without script errors
    // and without anything blocked by its Content-Security-Policy (reported on the console).
    const watch = (p) => {
      p.on("pageerror", (error) => pageErrors.push(`${p.url()}: ${error}`));
      p.on("console", (message) => {
        if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
          pageErrors.push(`${p.url()}: ${message.text()}`);
        }
      });
    };
    context.pages().forEach(watch);
    context.on("page", watch);
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it("opens /docs and shows the operations with an Authorize button", async () => {
    const response = await page.goto(`${BASE_URL}/docs`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-security-policy"] ?? "", /script-src 'self';/);
    await page.locator(".swagger-ui .info .title", { hasText: "Weather Service" }).waitFor();
    await page.locator("#operations-reports-list_reports").waitFor();
    await page.locator("button.authorize").waitFor();
    await shot(page, "01-docs");
    assert.deepEqual(pageErrors, []);
  });

  it("Authorize opens the sign-in dialog with the client id and both scopes preselected", async () => {
    await page.locator("button.authorize").first().click();
    const oauth = oauthContainer();
    await oauth.waitFor();
    assert.match(await oauth.locator("h4").innerText(), /^entra_id \(OAuth2, authorizationCode with PKCE\)/);
    assert.equal(
      await oauth.locator("#client_id_authorizationCode").inputValue(),
      "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e",
      "initOAuth preconfigures the public client",
    );
    for (const scope of [READ_SCOPE, WRITE_SCOPE]) {
      const box = oauth.locator(`input[type=checkbox][data-value="${scope}"]`);
      assert.equal(await box.isChecked(), true, `${scope} is preselected`);
    }
    await oauth.scrollIntoViewIfNeeded();
    await shot(page, "02-authorize-dialog");
  });

  it("signs in on the development issuer's page (user alice, consent to both scopes)", async () => {
    const oauth = oauthContainer();
    const [popup] = await Promise.all([
      context.waitForEvent("page"),
      oauth.locator("button.authorize").click(),
    ]);
    await popup.waitForLoadState("domcontentloaded");
    assert.match(popup.url(), new RegExp(`^${BASE_URL}/dev-issuer/.*/oauth2/v2\\.0/authorize\\?`));
    const url = new URL(popup.url());
    assert.equal(url.searchParams.get("code_challenge_method"), "S256", "PKCE");
    assert.equal(url.searchParams.get("client_id"), "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e");
    await popup.getByRole("heading", { name: "Sign in to the development tenant" }).waitFor();
    await popup.locator('input[name=username][value=alice]').check();
    for (const scope of ["weather.read", "weather.write"]) {
      const consent = popup.locator(`input[name=consented_scope][value="${scope}"]`);
      await consent.check();
    }
    await shot(popup, "03-dev-issuer-login");
    const closed = popup.waitForEvent("close");
    await popup.locator("button[value=accept]").click();
    await closed; // oauth2-redirect.html hands the code to Swagger UI and closes itself
    const signedIn = oauthContainer();
    await signedIn.getByText("Authorized", { exact: true }).waitFor();
    await signedIn.locator("button", { hasText: "Logout" }).waitFor();
    await signedIn.scrollIntoViewIfNeeded();
    await shot(page, "04-signed-in");
    await page.locator(".dialog-ux .modal-ux button.close-modal").click();
    await page.locator("button.authorize.locked").first().waitFor();
    assert.deepEqual(pageErrors, []);
  });

  it('"Try it out" GET /api/reports answers 200 with the token', async () => {
    const op = page.locator("#operations-reports-list_reports");
    await op.locator(".opblock-summary").click();
    await op.locator("button.try-out__btn").click();
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor();
    assert.equal((await status.innerText()).trim(), "200");
    const curl = await op.locator(".curl-command").innerText();
    assert.match(curl, /Authorization: Bearer ey/, "the call carries the signed-in user's token");
    await op.locator(".live-responses-table").scrollIntoViewIfNeeded();
    await shot(page, "05-get-reports-200");
  });

  it('"Try it out" POST /api/reports with a body answers 201', async () => {
    const op = page.locator("#operations-reports-create_report");
    await op.locator(".opblock-summary").click();
    await op.locator("button.try-out__btn").click();
    const body = JSON.stringify(
      { description: DESCRIPTION, location: { city: "Portland", state: "OR", country: "US" } },
      null,
      2,
    );
    await op.locator("textarea.body-param__text").fill(body);
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table .response .response-col_status").first();
    await status.waitFor();
    assert.equal((await status.innerText()).trim(), "201");
    const answer = await op.locator(".live-responses-table .response-col_description pre").first().innerText();
    assert.equal(JSON.parse(answer).description, DESCRIPTION);
    assert.equal(JSON.parse(answer).location.city, "portland");
    await op.locator(".live-responses-table").scrollIntoViewIfNeeded();
    await shot(page, "06-post-report-201");
  });

  it("the home page shows the posted report and links to /docs", async () => {
    const response = await page.goto(`${BASE_URL}/`);
    assert.equal(response.status(), 200);
    await page.getByText(DESCRIPTION).waitFor();
    assert.equal(await page.locator('a[href="/docs"]').count() > 0, true);
    await shot(page, "07-home-page");
    assert.deepEqual(pageErrors, []);
  });
});
