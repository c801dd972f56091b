--[[
Cross-references for the Quarto-free fallback renderer (mammovqa.paper).

Why: pandoc reads `@fig-x` / `@tbl-x` as citations. Quarto resolves them itself; without Quarto
this filter does it, and fails loudly on a reference to an id that does not exist, so a broken
reference can never reach the PDF or HTML as "??" or as a bogus citation.

- typst output: the reference becomes raw typst `@fig-x`; pandoc already labels figures and tables
  `<fig-x>` / `<tbl-x>`, so typst numbers them ("Figure 1", "Table 1") and resolves the link.
- html output: figures and tables are numbered in document order, their captions are prefixed with
  "Figure N:" / "Table N:", and each reference becomes a link "Figure N" to the element.
- `.callout-*` divs (Quarto's notice blocks) become a framed, coloured block in both formats.
]]

local numbers = {}   -- id -> number
local kinds = {fig = "Figure", tbl = "Table"}

local function prefix_of(id)
  return id and id:match("^(%a+)%-") or nil
end

local function is_xref(id)
  local p = prefix_of(id)
  return p ~= nil and kinds[p] ~= nil
end

local function collect(doc)
  local counters = {fig = 0, tbl = 0}
  local function register(el)
    local id = el.identifier
    if is_xref(id) then
      if numbers[id] then error("duplicate cross-reference id: " .. id) end
      local p = prefix_of(id)
      counters[p] = counters[p] + 1
      numbers[id] = counters[p]
    end
  end
  doc.blocks:walk({traverse = "topdown", Figure = register, Table = register})
end

local function label(id)
  return kinds[prefix_of(id)] .. " " .. tostring(numbers[id])
end

local function prefix_caption(caption, id)
  local head = pandoc.Inlines({pandoc.Str(label(id) .. ":"), pandoc.Space()})
  if #caption.long == 0 then
    caption.long = pandoc.Blocks({pandoc.Plain(head)})
  else
    local first = caption.long[1]
    if first.t == "Plain" or first.t == "Para" then
      first.content = head .. first.content
    else
      caption.long:insert(1, pandoc.Plain(head))
    end
  end
  return caption
end

local function resolve_cite(cite)
  if #cite.citations ~= 1 then
    for _, c in ipairs(cite.citations) do
      if is_xref(c.id) then error("cross-reference @" .. c.id .. " must not be grouped with other keys") end
    end
    return nil
  end
  local c = cite.citations[1]
  if not is_xref(c.id) then return nil end
  if not numbers[c.id] then error("unresolved cross-reference @" .. c.id) end
  local out = pandoc.Inlines({})
  out:extend(c.prefix)
  if #c.prefix > 0 then out:insert(pandoc.Space()) end
  if FORMAT:match("typst") then
    out:insert(pandoc.RawInline("typst", "@" .. c.id))
  else
    out:insert(pandoc.Link(label(c.id), "#" .. c.id))
  end
  out:extend(c.suffix)
  return out
end

local callout_colours = {warning = "#b71c1c", important = "#b71c1c", caution = "#e65100", note = "#0d47a1", tip = "#1b5e20"}

local function callout(div)
  local kind = nil
  for _, cls in ipairs(div.classes) do
    local k = cls:match("^callout%-(%a+)$")
    if k then kind = k end
  end
  if not kind then return nil end
  local title = div.attributes["title"] or "Note"
  local colour = callout_colours[kind] or "#0d47a1"
  local body = pandoc.Blocks({pandoc.Para({pandoc.Strong(pandoc.Str(title))})})
  body:extend(div.content)
  if FORMAT:match("typst") then
    local open = string.format('#block(width: 100%%, inset: 10pt, radius: 3pt, stroke: 1.5pt + rgb("%s"), '
      .. 'fill: rgb("%s").lighten(90%%))[', colour, colour)
    local out = pandoc.Blocks({pandoc.RawBlock("typst", open)})
    out:extend(body)
    out:insert(pandoc.RawBlock("typst", "]"))
    return out
  end
  div.content = body
  div.classes:insert("callout")
  div.attributes["style"] = string.format("border: 2px solid %s; border-left-width: 8px; padding: 0.5em 1em; "
    .. "margin: 1em 0; background: #fff8f7;", colour)
  return div
end

function Pandoc(doc)
  collect(doc)
  doc = doc:walk({
    Figure = function(fig)
      if not FORMAT:match("typst") and numbers[fig.identifier] then
        fig.caption = prefix_caption(fig.caption, fig.identifier)
        return fig
      end
    end,
    Table = function(tbl)
      if not FORMAT:match("typst") and numbers[tbl.identifier] then
        tbl.caption = prefix_caption(tbl.caption, tbl.identifier)
        return tbl
      end
    end,
    Cite = resolve_cite,
    Div = callout,
  })
  return doc
end
