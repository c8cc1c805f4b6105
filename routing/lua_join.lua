-- join: ARGV node, version. Run by Open before anything else: a site's
-- nodes must all run the same engine (these scripts and the formats of
-- their keys and events), so a node does not join while a live node of
-- another version is there. Records this node's version.
local node, version = ARGV[1], ARGV[2]
local versions = P .. 'node_versions'
for _, other in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '(' .. NOWS, '+inf')) do
  if other ~= node then
    local v = redis.call('HGET', versions, other)
    if v and v ~= version then
      fail('conflict', 'Node ' .. other .. ' of this site runs routing engine ' .. v .. ' and this node ' .. version ..
        ': a site runs one version; stop its nodes before starting another version.')
    end
  end
end
redis.call('HSET', versions, node, version)
return 1
