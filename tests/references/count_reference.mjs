// Answers counting questions with the references the networks and carriers use themselves:
// twitter-text (X), sms-segments-calculator (Twilio) and @atproto/api RichText (Bluesky).
// One JSON request per line on stdin, one JSON answer per line on stdout, so that one node
// process serves a whole test run.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { RichText } from '@atproto/api';

const require = createRequire(import.meta.url);
const twitterText = require('twitter-text');
const { SegmentedMessage } = require('sms-segments-calculator');
const unicodeToGsm = require('sms-segments-calculator/dist/libs/UnicodeToGSM.js');
const TLDs = require('tlds');

const utf8 = new TextEncoder();

function answer(request) {
  const { kind, text } = request;
  if (kind === 'x') {
    const parsed = twitterText.parseTweet(text);
    const urls = twitterText.extractUrlsWithIndices(text).map((u) => u.url);
    return { weightedLength: parsed.weightedLength, urls };
  }
  if (kind === 'sms') {
    const message = new SegmentedMessage(text);
    return { encoding: message.encodingName, segments: message.segmentsCount };
  }
  if (kind === 'bluesky') {
    const rt = new RichText({ text });
    rt.detectFacetsWithoutResolution();
    const facets = (rt.facets || []).flatMap((facet) =>
      facet.features
        .filter((f) => !f.$type.endsWith('#mention'))
        .map((f) => ({
          kind: f.$type.endsWith('#link') ? 'link' : 'tag',
          byteStart: facet.index.byteStart,
          byteEnd: facet.index.byteEnd,
          value: f.uri ?? f.tag,
        })),
    );
    return { graphemeLength: rt.graphemeLength, bytes: utf8.encode(text).length, facets };
  }
  if (kind === 'gsm-table') {
    const table = (unicodeToGsm.default || unicodeToGsm);
    return { characters: Object.keys(table).map((code) => String.fromCharCode(Number(code))) };
  }
  if (kind === 'tlds') {
    return { iana: TLDs };
  }
  throw new Error(`unknown kind ${kind}`);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  let reply;
  try {
    reply = { ok: answer(JSON.parse(line)) };
  } catch (error) {
    reply = { error: String(error && error.stack || error) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
