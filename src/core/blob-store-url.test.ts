import { expect, test } from "bun:test";
import { parseBlobStoreUrl } from "./blob-store-url.ts";

test("unset or 'directory' is the data dir's blobs/", () => {
  expect(parseBlobStoreUrl("")).toEqual({ kind: "directory" });
  expect(parseBlobStoreUrl("directory")).toEqual({ kind: "directory" });
});

test("s3://bucket/prefix: the prefix ends in / (or is empty)", () => {
  expect(parseBlobStoreUrl("s3://cache")).toEqual({ kind: "s3", bucket: "cache", prefix: "" });
  expect(parseBlobStoreUrl("s3://cache/")).toEqual({ kind: "s3", bucket: "cache", prefix: "" });
  expect(parseBlobStoreUrl("s3://lab.cache-1/withcache")).toEqual({ kind: "s3", bucket: "lab.cache-1", prefix: "withcache/" });
  expect(parseBlobStoreUrl("S3://cache/a/b/")).toEqual({ kind: "s3", bucket: "cache", prefix: "a/b/" });
});

test("bad values say what was expected", () => {
  expect(() => parseBlobStoreUrl("/srv/blobs")).toThrow('"/srv/blobs" is not a blob store; expected s3://bucket/prefix');
  expect(() => parseBlobStoreUrl("https://s3.example/bucket")).toThrow("expected s3://bucket/prefix");
  expect(() => parseBlobStoreUrl("s3://Cache_1")).toThrow('bucket "Cache_1" is not a valid S3 bucket name');
  expect(() => parseBlobStoreUrl("s3://ab")).toThrow("not a valid S3 bucket name");
  expect(() => parseBlobStoreUrl("s3://key:secret@bucket/x")).toThrow("carries credentials");
  expect(() => parseBlobStoreUrl("s3://bucket/../x")).toThrow('may not contain "." or ".." segments');
});
