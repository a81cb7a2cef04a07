// Submit a campaign to Brandcast and watch it until every delivery has settled.
//
//   npm run build && node dist/example.js
//
// Configuration, as for the Python client and the CLI:
//   BRANDCAST_ADDRESS  host[:port] of the orchestrator (default 127.0.0.1:50051)
//   BRANDCAST_TOKEN    bearer token (one of the orchestrator's API_TOKENS)
//   BRANDCAST_TLS_CA   PEM file of the CA that signed the orchestrator's certificate (TLS)
//
// It prints "accepted <campaign id>", one line per progress event, and last a JSON
// summary. The watch resumes from its last cursor if the connection drops.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";

import {
  CampaignServiceClient,
  SubmitCampaignRequest,
  WatchCampaignRequest,
  type SubmitCampaignResponse,
  type WatchCampaignResponse,
} from "./gen/brandcast/v1/campaign_service";
import { CampaignSpec, campaignStateToJSON, type ChannelCounters } from "./gen/brandcast/v1/campaign";

const DEFAULT_PORT = 50051;

/** host[:port] with the orchestrator's port when none is given (grpc would dial 443). */
export function target(address = process.env.BRANDCAST_ADDRESS || "127.0.0.1"): string {
  if (address.startsWith("[")) return address.includes("]:") ? address : `${address}:${DEFAULT_PORT}`;
  return /:\d+$/.test(address) ? address : `${address}:${DEFAULT_PORT}`;
}

export function connect(): CampaignServiceClient {
  const ca = process.env.BRANDCAST_TLS_CA;
  const channelCredentials = ca ? credentials.createSsl(readFileSync(ca)) : credentials.createInsecure();
  return new CampaignServiceClient(target(), channelCredentials);
}

function metadata(): Metadata {
  const meta = new Metadata();
  const token = process.env.BRANDCAST_TOKEN;
  if (token) meta.set("authorization", `Bearer ${token}`);
  return meta;
}

/** SubmitCampaign with a deadline. The idempotency key makes a retry harmless. */
export function submit(client: CampaignServiceClient, spec: CampaignSpec, idempotencyKey: string) {
  const request = SubmitCampaignRequest.fromPartial({ spec, idempotencyKey });
  return new Promise<SubmitCampaignResponse>((resolve, reject) => {
    client.submitCampaign(request, metadata(), { deadline: Date.now() + 30_000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** WatchCampaign until the server ends the stream; after UNAVAILABLE, resume from the last cursor. */
export async function watch(
  client: CampaignServiceClient,
  campaignId: string,
  onEvent: (event: WatchCampaignResponse) => void,
): Promise<void> {
  let cursor = "";
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        const call = client.watchCampaign(
          WatchCampaignRequest.fromPartial({ campaignId, resumeCursor: cursor }),
          metadata(),
        );
        call.on("data", (event: WatchCampaignResponse) => {
          cursor = event.cursor;
          attempt = 0;
          onEvent(event);
        });
        call.on("error", reject);
        call.on("end", resolve);
      });
      return;
    } catch (error) {
      if ((error as ServiceError).code !== status.UNAVAILABLE || attempt >= 10) throw error;
      await sleep(Math.min(5000, 200 * 2 ** attempt) * Math.random());
    }
  }
}

function settled(counters: ChannelCounters[]): [number, number] {
  const total = counters.reduce((sum, c) => sum + c.total, 0);
  const waiting = counters.reduce((sum, c) => sum + c.pending + c.scheduled + c.queued, 0);
  return [total - waiting, total];
}

async function main(): Promise<void> {
  const spec = CampaignSpec.fromPartial({
    name: "Spring blend (from Node)",
    brandKit: { name: "Acme Coffee", smsSender: "+14155550100", defaultLocale: "en" },
    coreMessage: { headline: "Spring blend is here", body: "Roasted this week." },
    channels: { sms: { enabled: true } },
    audience: [
      { id: "cust-001", phone: "+14155550101" },
      { id: "cust-002", phone: "+14155550102" },
      { id: "cust-003", phone: "+14155550103" },
    ],
  });
  const client = connect();
  try {
    const accepted = await submit(client, spec, `node-example-${randomUUID()}`);
    const campaignId = accepted.campaign!.id;
    console.log(`accepted ${campaignId}`);
    let last: WatchCampaignResponse | undefined;
    let events = 0;
    await watch(client, campaignId, (event) => {
      events++;
      if (!event.progress) return;
      last = event;
      const [done, total] = settled(event.progress.counters);
      console.log(`progress: ${done}/${total} settled`);
    });
    const counters = last?.progress?.counters ?? [];
    const summary = {
      campaignId,
      events,
      state: campaignStateToJSON(last?.progress?.state ?? 0),
      settled: settled(counters)[0],
      total: settled(counters)[1],
    };
    console.log(JSON.stringify(summary));
  } finally {
    client.close();
  }
}

if (require.main === module) {
  main().catch((error: ServiceError) => {
    console.error(`error: ${status[error.code] ?? "?"}: ${error.details ?? error.message}`);
    process.exit(1);
  });
}
