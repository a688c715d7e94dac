-- Pandoc filter for scripts/guides_to_rst.py: the Markdown guides in docs/ become antsibull-docs extra docs.
--   * every heading gets a label ansible_collections.cnab.runtime.docsite.<guide>.<github anchor>, the guide's
--     first heading the label ansible_collections.cnab.runtime.docsite.<guide> (antsibull-docs requires it);
--   * a link to another guide (other.md, other.md#anchor, #anchor) becomes a :ref: to that label, so a broken
--     one fails the Sphinx build;
--   * a relative link to any other file of the repository becomes a link to it on the repository's web page.
--   * a code block without a language is marked as plain text (the site's default is YAML+Jinja).
-- Variables (pandoc -M): guide (this guide's name), guides (space-separated names), repository_url, docs_dir.

local prefix = "ansible_collections.cnab.runtime.docsite."
local guide, guides, repository_url = nil, {}, nil
local first_heading = true

local function meta_string(value)
  return value and pandoc.utils.stringify(value) or nil
end

local function label(name, anchor)
  if anchor == nil or anchor == "" then
    return prefix .. name
  end
  return prefix .. name .. "." .. anchor
end

local function normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." then
      table.remove(parts)
    elseif part ~= "." then
      table.insert(parts, part)
    end
  end
  return table.concat(parts, "/")
end

function Meta(meta)
  guide = meta_string(meta.guide)
  for name in (meta_string(meta.guides) or ""):gmatch("%S+") do
    guides[name] = true
  end
  repository_url = meta_string(meta.repository_url)
  return meta
end

function Header(header)
  if first_heading then
    first_heading = false
    header.identifier = label(guide)
  else
    header.identifier = label(guide, header.identifier)
  end
  return header
end

function Link(link)
  local target = link.target
  if target:match("^%a[%w+.-]*:") then
    return link -- http:, https:, mailto:
  end
  local path, anchor = target:match("^([^#]*)#?(.*)$")
  local text = pandoc.utils.stringify(link.content)
  local name = path == "" and guide or path:match("^([%w_.-]+)%.md$")
  if name and guides[name] then
    local ref = label(name, anchor)
    if text == "" or text:match("%.md$") or text:match("%.md#") then
      return pandoc.RawInline("rst", ":ref:`" .. ref .. "`")
    end
    return pandoc.RawInline("rst", ":ref:`" .. text:gsub("([<>`])", "\\%1") .. " <" .. ref .. ">`")
  end
  link.target = repository_url .. "/blob/main/" .. normalize("docs/" .. path) .. (anchor ~= "" and "#" .. anchor or "")
  return link
end

function CodeBlock(block)
  if #block.classes == 0 then
    block.classes = {"text"}
  end
  return block
end

return {{Meta = Meta}, {Header = Header, Link = Link, CodeBlock = CodeBlock}}
