// nst/io/detail/unpickler.hpp — a restricted pickle reader for PyTorch state dicts.
//
// A .pth file is a Python pickle: a small stack-machine program that, run by Python's pickle
// module, may call any importable function (os.system included). This reader never runs
// anything. It builds a tree of plain values (none, bool, int, float, str, bytes, tuple, list,
// dict) and understands exactly the few callables a state dict needs:
//
//   collections.OrderedDict()                         -> an (ordered) dict
//   torch._utils._rebuild_tensor(_v2)(storage, ...)  -> a `tensor` value holding the arguments
//   torch._utils._rebuild_parameter(tensor, ...)     -> that tensor
//   torch[.cuda].FloatStorage / DoubleStorage / HalfStorage / BFloat16Storage -> storage types
//   BINPERSID (torch's reference to a storage)       -> a `persistent_id` value holding its tuple
//
// Any other global (os.system, builtins.eval, torch.LongStorage, ...) and any opcode that could
// create an arbitrary object (INST, OBJ, NEWOBJ, EXT*, ...) is a format_error naming it, before
// anything else happens. Protocols 2 to 5 are read (PyTorch writes 2); nesting depth, memo size,
// value count and string lengths are bounded, and every read is bounds-checked by the
// byte_reader, so a hostile pickle ends in a clear error, never a crash or a hang.
//
//   memory_reader in(bytes, "load_pth: 'x.pth'", "archive/data.pkl");
//   unpickle_result r = unpickle(in, "load_pth: 'x.pth'");
//   r.root->type == pickle_value::kind::dict;
//
// To keep the value graph a tree (no cycles, bounded depth), a container cannot be modified
// once it has been put inside another one; Python's pickler never needs that for a state dict.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "binary_file.hpp"

namespace nst {
namespace detail {

struct pickle_value;
using pickle_ptr = std::shared_ptr<pickle_value>;

struct pickle_value {
  enum class kind {
    none, boolean, integer, big_integer, floating, string, bytes, tuple, list, dict,
    global,         // text = "module.name" of an allowed global
    persistent_id,  // items = the persistent id tuple's items
    tensor          // text = rebuild function, items = its arguments
  };
  kind type = kind::none;
  std::int64_t integer = 0;       // boolean (0/1), integer
  double floating = 0;            // floating
  std::string text;               // string, bytes, global, tensor; big_integer: little-endian bytes
  std::vector<pickle_ptr> items;  // tuple, list, persistent_id, tensor; dict: key, value, key, ...
  bool nested = false;            // inside another container: frozen from then on
  int depth = 1;                  // 1 + the deepest child's depth

  bool is(kind k) const noexcept { return type == k; }
};

inline const char* pickle_kind_name(pickle_value::kind k) {
  using kind = pickle_value::kind;
  switch (k) {
    case kind::none: return "None";
    case kind::boolean: return "a bool";
    case kind::integer:
    case kind::big_integer: return "an int";
    case kind::floating: return "a float";
    case kind::string: return "a str";
    case kind::bytes: return "bytes";
    case kind::tuple: return "a tuple";
    case kind::list: return "a list";
    case kind::dict: return "a dict";
    case kind::global: return "a class or function";
    case kind::persistent_id: return "a storage reference";
    case kind::tensor: return "a tensor";
  }
  return "?";
}

struct unpickle_result {
  pickle_ptr root;
  std::vector<pickle_ptr> persistent_ids;  // every BINPERSID's value, in order
};

// The globals a state dict needs; anything else is refused. (torch.cuda.*Storage is what
// PyTorch 0.x wrote for tensors saved from a GPU; the bytes on disk are the same.)
inline bool allowed_pickle_global(const std::string& name) {
  static const char* const allowed[] = {
      "collections.OrderedDict",        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter", "torch.FloatStorage",          "torch.DoubleStorage",
      "torch.HalfStorage",              "torch.BFloat16Storage",        "torch.cuda.FloatStorage",
      "torch.cuda.DoubleStorage",       "torch.cuda.HalfStorage",       "torch.cuda.BFloat16Storage"};
  for (const char* a : allowed)
    if (name == a) return true;
  return false;
}

class unpickler {
 public:
  static constexpr int max_depth = 100;
  static constexpr std::size_t max_memo = std::size_t{1} << 20;
  static constexpr std::size_t max_stack = std::size_t{1} << 20;
  static constexpr std::size_t max_values = std::size_t{1} << 20;  // about 100 MB of values at most
  static constexpr std::uint64_t max_string = std::uint64_t{1} << 28;

  unpickler(byte_reader& in, std::string where) : in_(in), where_(std::move(where)) {}

  // Runs the pickle up to its STOP opcode.
  unpickle_result run() {
    for (;;) {
      opcode_at_ = in_.position();
      const unsigned char op = read_u8();
      if (op == '.') break;  // STOP
      step(op);
    }
    if (stack_.size() != 1 || !marks_.empty())
      fail(327, "STOP leaves " + std::to_string(stack_.size()) + " values and " +
                    std::to_string(marks_.size()) + " open MARKs on the stack instead of one value");
    return {stack_.back(), persistent_ids_};
  }

 private:
  using kind = pickle_value::kind;

  [[noreturn]] void fail(int id, const std::string& problem) const {
    NST_THROW(format_error, id, where_, ": pickle ", problem, " (opcode at byte ", opcode_at_, ")");
  }

  // ---- reading ----
  void read(char* out, std::uint64_t n) { in_.read(out, n); }
  unsigned char read_u8() {
    char c;
    read(&c, 1);
    return static_cast<unsigned char>(c);
  }
  std::uint64_t read_le(int bytes) {
    char buffer[8];
    read(buffer, static_cast<std::uint64_t>(bytes));
    return load_le(buffer, bytes);
  }
  std::string read_bytes(std::uint64_t n) {
    if (n > max_string || n > in_.remaining())
      fail(328, "declares a string of " + std::to_string(n) + " bytes but only " +
                    std::to_string(in_.remaining()) + " remain");
    std::string s(static_cast<std::size_t>(n), '\0');
    if (n > 0) read(&s[0], n);
    return s;
  }
  // A GLOBAL argument: text up to a newline, at most 256 bytes.
  std::string read_line() {
    std::string s;
    for (char c; (c = static_cast<char>(read_u8())) != '\n';) {
      if (s.size() == 256) fail(328, "GLOBAL name longer than 256 bytes");
      s += c;
    }
    return s;
  }

  // ---- values ----
  pickle_ptr make(kind k) {
    if (++values_ > max_values) fail(328, "creates more than " + std::to_string(max_values) + " values");
    auto v = std::make_shared<pickle_value>();
    v->type = k;
    return v;
  }
  pickle_ptr make_integer(std::int64_t i) {
    auto v = make(kind::integer);
    v->integer = i;
    return v;
  }
  pickle_ptr make_text(kind k, std::string text) {
    auto v = make(k);
    v->text = std::move(text);
    return v;
  }

  // Puts `child` inside `parent`, keeping the value graph a bounded tree.
  void adopt(pickle_value& parent, const pickle_ptr& child) {
    if (child.get() == &parent) fail(328, "puts a container inside itself");
    child->nested = true;
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > max_depth) fail(328, "nests values deeper than " + std::to_string(max_depth));
    parent.items.push_back(child);
  }
  pickle_ptr make_container(kind k, const std::vector<pickle_ptr>& items) {
    auto v = make(k);
    for (const auto& item : items) adopt(*v, item);
    return v;
  }
  // The container an APPEND/SETITEM/BUILD modifies; it must not be nested yet (see the top).
  pickle_value& mutable_target(const pickle_ptr& target, kind expected, const char* opcode) {
    if (!target->is(expected))
      fail(327, std::string(opcode) + " applied to " + pickle_kind_name(target->type) + ", not " +
                    pickle_kind_name(expected));
    if (target->nested) fail(327, std::string(opcode) + " modifies a container already inside another one");
    return *target;
  }

  // ---- stack ----
  void push(pickle_ptr v) {
    if (stack_.size() >= max_stack) fail(328, "stack exceeds " + std::to_string(max_stack) + " values");
    stack_.push_back(std::move(v));
  }
  pickle_ptr pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail(327, "stack underflow");
    pickle_ptr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  pickle_ptr& top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail(327, "stack underflow");
    return stack_.back();
  }
  // The values pushed since the last MARK, which is removed.
  std::vector<pickle_ptr> pop_mark() {
    if (marks_.empty()) fail(327, "has no MARK to pop to");
    std::vector<pickle_ptr> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  // ---- memo ----
  void memo_put(std::uint64_t index) {
    if (memo_.size() >= max_memo && memo_.count(index) == 0)
      fail(328, "memo exceeds " + std::to_string(max_memo) + " entries");
    memo_[index] = top();
  }
  void memo_get(std::uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end()) fail(330, "reads memo entry " + std::to_string(index) + ", which was never stored");
    push(found->second);
  }

  // ---- the callables a state dict needs ----
  void push_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowed_pickle_global(full)) {
      if ((module == "torch" || module == "torch.cuda") && name.size() > 7 &&
          name.compare(name.size() - 7, 7, "Storage") == 0)
        fail(326, "uses storage type " + full +
                      "; nst loads FloatStorage, DoubleStorage, HalfStorage and BFloat16Storage only");
      fail(326, "refers to the global " + full +
                    ", which a weight file never needs; nst allows only collections.OrderedDict, "
                    "torch._utils._rebuild_tensor(_v2), torch._utils._rebuild_parameter and "
                    "torch.{Float,Double,Half,BFloat16}Storage (nothing is ever executed)");
    }
    push(make_text(kind::global, full));
  }

  void reduce() {
    pickle_ptr args = pop();
    pickle_ptr callable = pop();
    if (!callable->is(kind::global)) fail(327, "REDUCE calls " + std::string(pickle_kind_name(callable->type)));
    if (!args->is(kind::tuple)) fail(327, "REDUCE passes " + std::string(pickle_kind_name(args->type)) + ", not a tuple");
    const std::string& f = callable->text;
    const std::size_t n = args->items.size();
    if (f == "collections.OrderedDict") {
      push(ordered_dict(*args));
    } else if (f == "torch._utils._rebuild_tensor" || f == "torch._utils._rebuild_tensor_v2") {
      const bool v2 = f == "torch._utils._rebuild_tensor_v2";
      if (v2 ? (n != 6 && n != 7) : n != 4)
        fail(329, f + " takes " + (v2 ? "6 or 7" : "4") + " arguments, the pickle passes " + std::to_string(n));
      auto t = make_container(kind::tensor, args->items);
      t->text = f;
      push(t);
    } else if (f == "torch._utils._rebuild_parameter") {
      if (n != 3 || !args->items[0]->is(kind::tensor))
        fail(329, "torch._utils._rebuild_parameter expects (tensor, requires_grad, hooks)");
      push(args->items[0]);
    } else {
      fail(326, "calls " + f + ", which is a type, not a function nst allows to call");
    }
  }

  // OrderedDict() or, as Python 2 pickled it, OrderedDict([[key, value], ...]).
  pickle_ptr ordered_dict(const pickle_value& args) {
    auto dict = make(kind::dict);
    if (args.items.empty()) return dict;
    const pickle_value& pairs = *args.items[0];
    if (args.items.size() != 1 || !(pairs.is(kind::list) || pairs.is(kind::tuple)))
      fail(329, "collections.OrderedDict expects no argument or one list of pairs");
    for (const pickle_ptr& pair : pairs.items) {
      if (!(pair->is(kind::list) || pair->is(kind::tuple)) || pair->items.size() != 2)
        fail(329, "collections.OrderedDict expects [key, value] pairs");
      adopt(*dict, pair->items[0]);
      adopt(*dict, pair->items[1]);
    }
    return dict;
  }

  // BUILD sets an object's state. Only the attributes torch attaches to a state dict's
  // OrderedDict (`_metadata`) are accepted; they are dropped.
  void build() {
    pickle_ptr state = pop();
    mutable_target(top(), kind::dict, "BUILD");
    const bool dict_state = state->is(kind::dict) || state->is(kind::none);
    const bool pair_state = state->is(kind::tuple) && state->items.size() == 2;
    if (!dict_state && !pair_state) fail(329, "BUILD sets the state of a dict from " + std::string(pickle_kind_name(state->type)));
  }

  void set_items(pickle_value& dict, const std::vector<pickle_ptr>& items, const char* opcode) {
    if (items.size() % 2 != 0) fail(327, std::string(opcode) + " has a key without a value");
    for (const auto& item : items) adopt(dict, item);
  }

  // ---- one opcode ----
  void step(unsigned char op) {
    switch (op) {
      case 0x80: {  // PROTO
        const unsigned version = read_u8();
        if (version > 5) fail(325, "uses protocol " + std::to_string(version) + "; nst reads protocols 2 to 5");
        break;
      }
      case 0x95: read_le(8); break;  // FRAME: a length hint, nothing to do
      case '(':  // MARK
        if (marks_.size() == static_cast<std::size_t>(max_depth))
          fail(328, "opens more than " + std::to_string(max_depth) + " nested MARKs");
        marks_.push_back(stack_.size());
        break;
      case '0': pop(); break;                         // POP
      case '1': pop_mark(); break;                    // POP_MARK
      case '2': push(top()); break;                   // DUP
      case 'N': push(make(kind::none)); break;        // NONE
      case 0x88:                                      // NEWTRUE
      case 0x89: {                                    // NEWFALSE
        auto v = make(kind::boolean);
        v->integer = op == 0x88;
        push(v);
        break;
      }
      case 'J': push(make_integer(static_cast<std::int32_t>(read_le(4)))); break;  // BININT
      case 'K': push(make_integer(static_cast<std::int64_t>(read_le(1)))); break;  // BININT1
      case 'M': push(make_integer(static_cast<std::int64_t>(read_le(2)))); break;  // BININT2
      case 0x8a: push_long(read_le(1)); break;                                     // LONG1
      case 0x8b: push_long(read_le(4)); break;                                     // LONG4
      case 'G': {                                                                   // BINFLOAT
        char b[8];
        read(b, 8);
        std::uint64_t bits = 0;
        for (char c : b) bits = (bits << 8) | static_cast<unsigned char>(c);  // big endian
        auto v = make(kind::floating);
        std::memcpy(&v->floating, &bits, sizeof bits);
        push(v);
        break;
      }
      case 'U': push(make_text(kind::string, read_bytes(read_le(1)))); break;  // SHORT_BINSTRING (Python 2 str)
      case 'T': push(make_text(kind::string, read_bytes(read_le(4)))); break;  // BINSTRING (Python 2 str)
      case 0x8c: push(make_text(kind::string, read_bytes(read_le(1)))); break;  // SHORT_BINUNICODE
      case 'X': push(make_text(kind::string, read_bytes(read_le(4)))); break;   // BINUNICODE
      case 0x8d: push(make_text(kind::string, read_bytes(read_le(8)))); break;  // BINUNICODE8
      case 'C': push(make_text(kind::bytes, read_bytes(read_le(1)))); break;    // SHORT_BINBYTES
      case 'B': push(make_text(kind::bytes, read_bytes(read_le(4)))); break;    // BINBYTES
      case 0x8e: push(make_text(kind::bytes, read_bytes(read_le(8)))); break;   // BINBYTES8
      case ')': push(make(kind::tuple)); break;                                 // EMPTY_TUPLE
      case 't': push(make_container(kind::tuple, pop_mark())); break;           // TUPLE
      case 0x85:                                                                // TUPLE1
      case 0x86:                                                                // TUPLE2
      case 0x87: {                                                              // TUPLE3
        std::vector<pickle_ptr> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        push(make_container(kind::tuple, items));
        break;
      }
      case ']': push(make(kind::list)); break;                         // EMPTY_LIST
      case 'l': push(make_container(kind::list, pop_mark())); break;   // LIST
      case 'a': {                                                      // APPEND
        pickle_ptr item = pop();
        adopt(mutable_target(top(), kind::list, "APPEND"), item);
        break;
      }
      case 'e': {                                                      // APPENDS
        const auto items = pop_mark();
        pickle_value& list = mutable_target(top(), kind::list, "APPENDS");
        for (const auto& item : items) adopt(list, item);
        break;
      }
      case '}': push(make(kind::dict)); break;                         // EMPTY_DICT
      case 'd': {                                                      // DICT
        auto dict = make(kind::dict);
        set_items(*dict, pop_mark(), "DICT");
        push(dict);
        break;
      }
      case 's': {                                                      // SETITEM
        pickle_ptr value = pop();
        pickle_ptr key = pop();
        set_items(mutable_target(top(), kind::dict, "SETITEM"), {key, value}, "SETITEM");
        break;
      }
      case 'u': {                                                      // SETITEMS
        const auto items = pop_mark();
        set_items(mutable_target(top(), kind::dict, "SETITEMS"), items, "SETITEMS");
        break;
      }
      case 'c': {                                                      // GLOBAL
        const std::string module = read_line();
        push_global(module, read_line());
        break;
      }
      case 0x93: {                                                     // STACK_GLOBAL
        pickle_ptr name = pop();
        pickle_ptr module = pop();
        if (!module->is(kind::string) || !name->is(kind::string)) fail(327, "STACK_GLOBAL needs two strings");
        push_global(module->text, name->text);
        break;
      }
      case 'R': reduce(); break;                                       // REDUCE
      case 'b': build(); break;                                        // BUILD
      case 'Q': {                                                      // BINPERSID
        pickle_ptr id = pop();
        if (!id->is(kind::tuple)) fail(327, "persistent id is " + std::string(pickle_kind_name(id->type)) + ", not a tuple");
        auto v = make_container(kind::persistent_id, id->items);
        persistent_ids_.push_back(v);
        push(v);
        break;
      }
      case 'q': memo_put(read_le(1)); break;                           // BINPUT
      case 'r': memo_put(read_le(4)); break;                           // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                        // MEMOIZE
      case 'h': memo_get(read_le(1)); break;                           // BINGET
      case 'j': memo_get(read_le(4)); break;                           // LONG_BINGET
      default: refuse(op);
    }
  }

  // LONG1/LONG4: a little-endian two's complement integer of `n` bytes.
  void push_long(std::uint64_t n) {
    if (n > 1024) fail(328, "declares an integer of " + std::to_string(n) + " bytes");
    const std::string bytes = read_bytes(n);
    if (n > 8) {
      push(make_text(kind::big_integer, bytes));
      return;
    }
    std::uint64_t value = n == 0 ? 0 : load_le(bytes.data(), static_cast<int>(n));
    if (n > 0 && n < 8 && (static_cast<unsigned char>(bytes[n - 1]) & 0x80u))
      value |= ~std::uint64_t{0} << (8 * n);  // sign-extend
    push(make_integer(static_cast<std::int64_t>(value)));
  }

  [[noreturn]] void refuse(unsigned char op) const {
    static const struct { unsigned char code; const char* name; } known[] = {
        {'i', "INST"}, {'o', "OBJ"}, {0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"}, {0x82, "EXT1"},
        {0x83, "EXT2"}, {0x84, "EXT4"}, {'P', "PERSID"}, {'I', "INT"}, {'L', "LONG"},
        {'F', "FLOAT"}, {'S', "STRING"}, {'V', "UNICODE"}, {'p', "PUT"}, {'g', "GET"},
        {0x8f, "EMPTY_SET"}, {0x90, "ADDITEMS"}, {0x91, "FROZENSET"}, {0x96, "BYTEARRAY8"},
        {0x97, "NEXT_BUFFER"}, {0x98, "READONLY_BUFFER"}};
    static const char hex[] = "0123456789abcdef";
    const std::string code = std::string("0x") + hex[op >> 4] + hex[op & 0xF];
    for (const auto& k : known)
      if (k.code == op)
        fail(325, std::string("opcode ") + k.name + " (" + code +
                      ") is not allowed: nst's restricted unpickler reads only what torch.save "
                      "writes for a state dict");
    fail(325, "has unknown opcode " + code);
  }

  byte_reader& in_;
  std::string where_;
  std::uint64_t opcode_at_ = 0;
  std::vector<pickle_ptr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, pickle_ptr> memo_;
  std::vector<pickle_ptr> persistent_ids_;
  std::size_t values_ = 0;
};

// Reads one pickle from `in`; `where` starts every error message ("load_pth: 'x.pth'").
inline unpickle_result unpickle(byte_reader& in, const std::string& where) {
  return unpickler(in, where).run();
}

}  // namespace detail
}  // namespace nst
