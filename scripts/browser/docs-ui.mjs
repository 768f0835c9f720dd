// Swagger UI, as a newcomer meets the API: open /docs/ in headless Chromium (Debian's),
// authorise with an API key, run "Try it out" on a create and on a list, and check the
// answers the page shows — and that the page asked nothing of any host but 127.0.0.1.
// Usage: node docs-ui.mjs <base url> <api key> <screenshot path>
import { chromium } from "playwright-core";

const [base, key, screenshot] = process.argv.slice(2);
const foreign = [];
const failures = [];
let checks = 0;
const check = (name, ok, detail = "") => {
  checks += 1;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok || !detail ? "" : `: ${detail}`}`);
  if (!ok) failures.push(name);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1800 } });
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (!["127.0.0.1", "localhost"].includes(url.hostname) && url.protocol.startsWith("http")) {
      foreign.push(request.url());
    }
  });
  await page.goto(`${base}/docs/`, { waitUntil: "networkidle" });
  // The spec is fetched, then rendered: wait for the title rather than sample it once.
  const title = page.getByText("Transactions API").first();
  check("Swagger UI shows the API's title",
    await title.waitFor({ state: "visible", timeout: 15000 }).then(() => true, () => false));

  // Authorise with the key (the bearer scheme).
  await page.locator("button.authorize").first().click();
  await page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first().fill(key);
  await page.locator(".modal-ux button.authorize").first().click();
  await page.locator(".modal-ux button.btn-done, .modal-ux .close-modal").first().click();

  // Create, through "Try it out".
  const create = page.locator("#operations-transactions-create_user_transaction_api_v1_transactions_post");
  await create.locator(".opblock-summary").click();
  await create.locator("button.try-out__btn").click();
  const user = "65e25a6bfb249dcbfbf00b93";
  const body = JSON.stringify({ user_id: user, full_name: "Ada Lovelace", transaction_amount: 10.5, transaction_type: "credit" });
  await create.locator("textarea.body-param__text").fill(body);
  await create.locator("button.execute").click();
  const createdStatus = create.locator(".live-responses-table tbody .response-col_status").first();
  await createdStatus.waitFor({ timeout: 15000 });
  check("create answers 201 on the page", (await createdStatus.innerText()).trim().startsWith("201"), await createdStatus.innerText());
  const createdBody = await create.locator(".live-responses-table .microlight").first().innerText();
  check("the page shows the created transaction, name decrypted", createdBody.includes("Ada Lovelace") && createdBody.includes('"transaction_amount": 10.5'), createdBody.slice(0, 200));

  // List the user's transactions.
  const list = page.locator("#operations-transactions-get_user_transactions_api_v1_transactions_user__user_id__get");
  await list.locator(".opblock-summary").click();
  await list.locator("button.try-out__btn").click();
  await list.locator("tr[data-param-name=user_id] input").fill(user);
  await list.locator("button.execute").click();
  const listStatus = list.locator(".live-responses-table tbody .response-col_status").first();
  await listStatus.waitFor({ timeout: 15000 });
  check("list answers 200 on the page", (await listStatus.innerText()).trim().startsWith("200"), await listStatus.innerText());
  const listBody = await list.locator(".live-responses-table .microlight").first().innerText();
  check("the list shows the transaction", listBody.includes("Ada Lovelace") && listBody.includes('"total"'), listBody.slice(0, 200));

  await page.screenshot({ path: screenshot, fullPage: true });
  check("no request left 127.0.0.1 (no CDN)", foreign.length === 0, foreign.join(", "));
} catch (e) {
  check("the page could be driven", false, String(e).split("\n")[0]);
} finally {
  await browser.close();
}
console.log(`browser: ${checks - failures.length} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
