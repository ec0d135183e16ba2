"""The Redis function library (Lua, FUNCTION LOAD): the writer's atomic merge, commit and drop
(reads are plain commands: read.ReadSteps).

Function names carry a hash of this source, so stores running different code versions against
one Redis never call each other's functions; the library is loaded on first use (and again after
a Redis restart).
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
from redis.exceptions import NoPermissionError

from featurehouse.errors import OnlineStoreError

_SOURCE = r"""#!lua name=featurehouse_@H@

-- A record is JSON text `[<event_at>,...]` (json-array-v1/v2, event_at in epoch
-- microseconds) or a msgpack array (msgpack-v1, online/packed.py) whose event and load delay
-- are tagged times: 4 * n + code, n in microseconds, milliseconds, seconds or minutes (code
-- 0-3; the event relative to the generation's base). A view with a created timestamp ends
-- its records with the load delay (created_at - event_at; null/nil when there is none).
local units = {1, 1000, 1000000, 60000000}
local function untag(v)
  if v == nil then return nil end
  local code = v % 4
  return (v - code) / 4 * units[code + 1]
end

-- elements of a msgpack array: fixarray, array 16 or array 32
local function packed_count(rec)
  local b = string.byte(rec, 1)
  if b < 0xdc then return b - 0x90 end
  if b == 0xdc then return (struct.unpack('>H', rec, 2)) end
  return (struct.unpack('>I', rec, 2))
end

-- event_at and the load delay (nil without a created timestamp, or when null) in microseconds
local function times(rec, created)
  if string.byte(rec, 1) == 91 then  -- '[': JSON
    local e = tonumber(string.match(rec, '^%[(%-?%d+)'))
    if created ~= '1' then return e, nil end
    return e, tonumber(string.match(rec, ',(%-?%d+)%]$'))
  end
  local t = cmsgpack.unpack(rec)
  if created ~= '1' then return untag(t[1]), nil end
  return untag(t[1]), untag(t[packed_count(rec)])
end

-- The point-in-time rule (macros/point_in_time/_pit_rule.sql): the greater (event_at,
-- created_at) wins, a null created_at loses; on a full tie the later write wins.
local function wins(new, old, created)
  local e_new, c_new = times(new, created)
  local e_old, c_old = times(old, created)
  if e_new ~= e_old then return e_new > e_old end
  if created ~= '1' then return true end
  -- equal event_at: compare the delays
  if c_old == nil then return true end
  if c_new == nil then return false end
  return c_new >= c_old
end

-- KEYS = meta, data key; ARGV = generation, records end with created_at ('1'/'0'),
-- field, record, ... (a record or a tombstone: the merge compares only their times)
-- Writes a record unless the one Redis holds wins (`wins`). Returns {new, written}.
local function merge(keys, args)
  if redis.call('HGET', keys[1], 'gen') ~= args[1] then
    return redis.error_reply('FHSTALE generation ' .. args[1] .. ' is no longer current')
  end
  local added, written = 0, 0
  for j = 3, #args, 2 do
    local old = redis.call('HGET', keys[2], args[j])
    if (not old) or wins(args[j + 1], old, args[2]) then
      added = added + redis.call('HSET', keys[2], args[j], args[j + 1])
      written = written + 1
    end
  end
  return {added, written}
end

local function retire(meta, retired, view, vtoken, now)
  local m = redis.call('HMGET', meta, 'gen', 'key_prefix', 'entity', 'buckets', 'tags')
  if not m[1] then return false end
  redis.call('HSET', retired, 'g' .. m[1], cjson.encode({
    view = view, version = vtoken, generation = tonumber(m[1]), key_prefix = m[2],
    entity = m[3], buckets = tonumber(m[4]), tags = tonumber(m[5]), retired_at = now}))
  return m[1]
end

-- KEYS = meta, syncing, retired, latest, views
-- ARGV = gen field ('g<gen>'), view, vtoken, is_latest ('1'/'0'), now, meta field, value, ...
-- Switches the view version to the new generation in one step; the old one goes to `retired`.
local function commit(keys, args)
  if redis.call('HEXISTS', keys[2], args[1]) == 0 then
    return redis.error_reply('FHGONE generation ' .. args[1] .. ' is no longer registered')
  end
  local old = retire(keys[1], keys[3], args[2], args[3], args[5])
  redis.call('HDEL', keys[2], args[1])
  redis.call('DEL', keys[1])
  redis.call('HSET', keys[1], unpack(args, 6))
  redis.call('SADD', keys[5], args[2] .. ':' .. args[3])
  if args[4] == '1' then redis.call('HSET', keys[4], args[2], args[3]) end
  return old
end

-- KEYS = meta, latest, views; ARGV = gen, view, vtoken, is_latest, rows added, field, value, ...
-- Records an incremental merge in the metadata, if the generation is still current.
local function touch(keys, args)
  if redis.call('HGET', keys[1], 'gen') ~= args[1] then
    return redis.error_reply('FHSTALE generation ' .. args[1] .. ' is no longer current')
  end
  redis.call('HINCRBY', keys[1], 'rows', args[5])
  if #args > 5 then redis.call('HSET', keys[1], unpack(args, 6)) end
  redis.call('SADD', keys[3], args[2] .. ':' .. args[3])
  if args[4] == '1' then redis.call('HSET', keys[2], args[2], args[3]) end
  return redis.call('HGET', keys[1], 'rows')
end

-- KEYS = meta, retired, latest, views; ARGV = view, vtoken, now
-- Unpublishes a view version in one step; its data goes to `retired` for deletion.
local function drop(keys, args)
  local old = retire(keys[1], keys[2], args[1], args[2], args[3])
  redis.call('DEL', keys[1])
  redis.call('SREM', keys[4], args[1] .. ':' .. args[2])
  if redis.call('HGET', keys[3], args[1]) == args[2] then redis.call('HDEL', keys[3], args[1]) end
  return old
end

redis.register_function('fh_@H@_merge', merge)
redis.register_function('fh_@H@_commit', commit)
redis.register_function('fh_@H@_touch', touch)
redis.register_function('fh_@H@_drop', drop)
"""

LIBRARY_HASH = hashlib.sha1(_SOURCE.encode()).hexdigest()[:8]
SOURCE = _SOURCE.replace("@H@", LIBRARY_HASH)


def function_name(verb: str) -> str:
    return f"fh_{LIBRARY_HASH}_{verb}"


def _not_loaded(exc: redis.ResponseError) -> OnlineStoreError:
    """The library is missing and this user may not load it (a user without FUNCTION LOAD)."""
    return OnlineStoreError(
        f"Redis has no function library featurehouse_{LIBRARY_HASH} (this featurehouse "
        f"version's) and this user may not load it ({' '.join(str(exc).split())}): run "
        "`featurehouse acl --load-functions` or `featurehouse sync` as featurehouse-writer"
    )


def load(client: redis.Redis) -> None:
    try:
        client.function_load(SOURCE)
    except redis.ResponseError as exc:
        if isinstance(exc, NoPermissionError) or "NOPERM" in str(exc):
            raise _not_loaded(exc) from None
        if "already exists" not in str(exc):
            raise


def fcall(client: redis.Redis, verb: str, keys: list[str], args: list[Any]) -> Any:
    """FCALL the library's `verb`, loading the library when Redis does not have it."""
    command = ("FCALL", function_name(verb), len(keys), *keys, *args)
    try:
        return client.execute_command(*command)
    except redis.ResponseError as exc:
        if "Function not found" not in str(exc):
            raise
    load(client)
    return client.execute_command(*command)
