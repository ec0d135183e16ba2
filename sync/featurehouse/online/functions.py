"""The Redis function library (Lua, FUNCTION LOAD): atomic read, merge, commit and drop.

Function names carry a hash of this source, so stores running different code versions against
one Redis never call each other's functions; the library is loaded on first use (and again after
a Redis restart).
"""

from __future__ import annotations

import hashlib
from typing import Any

import redis

_SOURCE = r"""#!lua name=featurehouse_@H@

-- event_at (epoch microseconds) is the first element of a record `[<event_at>,...]`
local function event_us(rec)
  return tonumber(string.match(rec, '^%[(%-?%d+)'))
end

local function data_key(m, b)
  -- m = {gen, key_prefix, entity, buckets, tags}
  return m[2] .. '{' .. m[3] .. ':' .. (b % tonumber(m[5])) .. '}:' .. b
end

-- KEYS[1] = latest hash; ARGV = ctl prefix, nviews, then per view:
-- view, vtoken ('' = latest), known ('<vtoken>:<gen>' cached by the client), n, n*(crc32, field)
-- Returns per view {vtoken|false, gen|false, meta-or-false, rec_1..rec_n}.
local function read(keys, args)
  local ctl, nviews, i, out = args[1], tonumber(args[2]), 3, {}
  for v = 1, nviews do
    local view, vtoken, known, n = args[i], args[i + 1], args[i + 2], tonumber(args[i + 3])
    i = i + 4
    if vtoken == '' then vtoken = redis.call('HGET', keys[1], view) end
    local res = {vtoken, false, false}
    if vtoken then
      local mkey = ctl .. 'view:' .. view .. ':' .. vtoken
      local m = redis.call('HMGET', mkey, 'gen', 'key_prefix', 'entity', 'buckets', 'tags')
      if m[1] then
        res[2] = m[1]
        if known ~= vtoken .. ':' .. m[1] then res[3] = redis.call('HGETALL', mkey) end
        local nb = tonumber(m[4])
        for e = 1, n do
          res[3 + e] = redis.call('HGET', data_key(m, tonumber(args[i]) % nb), args[i + 1])
          i = i + 2
        end
      else
        i = i + 2 * n
      end
    else
      i = i + 2 * n
    end
    out[v] = res
  end
  return out
end

-- KEYS = meta, data key; ARGV = generation, expire_at_ms (0 = none), field, record, ...
-- Writes a record unless Redis holds one with a newer event_at. Returns {new, written}.
local function merge(keys, args)
  if redis.call('HGET', keys[1], 'gen') ~= args[1] then
    return redis.error_reply('FHSTALE generation ' .. args[1] .. ' is no longer current')
  end
  local added, written = 0, 0
  for j = 3, #args, 2 do
    local old = redis.call('HGET', keys[2], args[j])
    if (not old) or event_us(args[j + 1]) >= event_us(old) then
      added = added + redis.call('HSET', keys[2], args[j], args[j + 1])
      written = written + 1
    end
  end
  local exp = tonumber(args[2])
  if exp > 0 and written > 0 then
    local cur = redis.call('PEXPIRETIME', keys[2])
    if cur < exp then redis.call('PEXPIREAT', keys[2], exp) end
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

redis.register_function{function_name = 'fh_@H@_read', callback = read, flags = {'no-writes'}}
redis.register_function('fh_@H@_merge', merge)
redis.register_function('fh_@H@_commit', commit)
redis.register_function('fh_@H@_touch', touch)
redis.register_function('fh_@H@_drop', drop)
"""

LIBRARY_HASH = hashlib.sha1(_SOURCE.encode()).hexdigest()[:8]
SOURCE = _SOURCE.replace("@H@", LIBRARY_HASH)


def function_name(verb: str) -> str:
    return f"fh_{LIBRARY_HASH}_{verb}"


def load(client: redis.Redis) -> None:
    try:
        client.function_load(SOURCE)
    except redis.ResponseError as exc:
        if "already exists" not in str(exc):
            raise


def fcall(client: redis.Redis, verb: str, keys: list[str], args: list[Any]) -> Any:
    """FCALL the library's `verb`, loading the library when Redis does not have it."""
    name = function_name(verb)
    try:
        return client.fcall(name, len(keys), *keys, *args)
    except redis.ResponseError as exc:
        if "Function not found" not in str(exc):
            raise
    load(client)
    return client.fcall(name, len(keys), *keys, *args)
