//! A small safe layer over the raw Node-API declarations in `sys`.
//!
//! What it gives the rest of the crate:
//! - [`Env`]: value constructors and readers that turn a failed `napi_status` into a [`JsError`];
//! - [`Export`] and [`register`]: a table of exported functions, each checked for its arity and wrapped so
//!   that a returned `Err` or a panic becomes a thrown JS error with a stable `code`;
//! - [`Env::create_external`] / [`Env::get_external`]: `Arc<T>` handles with a type tag, so a foreign external
//!   passed back from JavaScript is refused instead of being misread;
//! - [`Env::spawn_work`]: blocking work on the libuv pool that settles a promise;
//! - [`EventChannel`]: numeric events posted from any thread, delivered to one JS callback in batches.
//!
//! Borrowed views (`&[u8]` of a Buffer) live only as long as the synchronous call that produced them.

pub mod sys;

use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The most arguments any export takes; the trampoline reads this many.
const ARGS_MAX: usize = 8;

/// An error to throw in JavaScript: `code` is a stable string (`FERRYMQ_*`), `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsError {
  pub code: String,
  pub message: String,
}

impl JsError {
  pub fn new(code: &str, message: impl Into<String>) -> JsError {
    JsError { code: code.to_string(), message: message.into() }
  }

  fn from_status(what: &str, status: sys::napi_status) -> JsError {
    JsError::new("FERRYMQ_NAPI", format!("{what} failed with napi_status {status}"))
  }

  fn type_error(message: impl Into<String>) -> JsError {
    JsError::new("FERRYMQ_INVALID_ARG", message)
  }
}

pub type JsResult<T> = Result<T, JsError>;

fn check(status: sys::napi_status, what: &str) -> JsResult<()> {
  if status == sys::NAPI_OK {
    Ok(())
  } else {
    Err(JsError::from_status(what, status))
  }
}

/// Turns a Rust string into a C string for N-API, replacing interior NULs so that it never fails.
fn c_string(s: &str) -> CString {
  match CString::new(s) {
    Ok(c) => c,
    Err(_) => CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default(),
  }
}

/// A JavaScript value handle, valid for the current handle scope only.
pub type Value = sys::napi_value;

/// The per-call environment. Copy it freely within one callback; never keep it past the callback.
#[derive(Clone, Copy)]
pub struct Env(pub(crate) sys::napi_env);

impl Env {
  pub fn undefined(self) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_get_undefined(self.0, &mut v) }, "napi_get_undefined")?;
    Ok(v)
  }

  pub fn null(self) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_get_null(self.0, &mut v) }, "napi_get_null")?;
    Ok(v)
  }

  pub fn boolean(self, b: bool) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_get_boolean(self.0, b, &mut v) }, "napi_get_boolean")?;
    Ok(v)
  }

  pub fn number(self, n: f64) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_create_double(self.0, n, &mut v) }, "napi_create_double")?;
    Ok(v)
  }

  pub fn string(self, s: &str) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    let status = unsafe { sys::napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut v) };
    check(status, "napi_create_string_utf8")?;
    Ok(v)
  }

  pub fn object(self) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_create_object(self.0, &mut v) }, "napi_create_object")?;
    Ok(v)
  }

  pub fn array(self, len: usize) -> JsResult<Value> {
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_create_array_with_length(self.0, len, &mut v) }, "napi_create_array_with_length")?;
    Ok(v)
  }

  pub fn set_element(self, array: Value, index: u32, value: Value) -> JsResult<()> {
    check(unsafe { sys::napi_set_element(self.0, array, index, value) }, "napi_set_element")
  }

  pub fn set(self, object: Value, name: &str, value: Value) -> JsResult<()> {
    let name = c_string(name);
    check(unsafe { sys::napi_set_named_property(self.0, object, name.as_ptr(), value) }, "napi_set_named_property")
  }

  pub fn set_number(self, object: Value, name: &str, n: f64) -> JsResult<()> {
    let v = self.number(n)?;
    self.set(object, name, v)
  }

  pub fn set_bool(self, object: Value, name: &str, b: bool) -> JsResult<()> {
    let v = self.boolean(b)?;
    self.set(object, name, v)
  }

  pub fn set_string(self, object: Value, name: &str, s: &str) -> JsResult<()> {
    let v = self.string(s)?;
    self.set(object, name, v)
  }

  /// A new Buffer owned by JavaScript, filled by `fill` (which sees the whole zeroed-or-not slice).
  pub fn buffer_with(self, len: usize, fill: impl FnOnce(&mut [u8])) -> JsResult<Value> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_create_buffer(self.0, len, &mut data, &mut v) }, "napi_create_buffer")?;
    if len > 0 {
      // SAFETY: napi_create_buffer returned `len` writable bytes that belong to the new Buffer.
      let slice = unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) };
      fill(slice);
    }
    Ok(v)
  }

  pub fn buffer_from(self, bytes: &[u8]) -> JsResult<Value> {
    self.buffer_with(bytes.len(), |dst| dst.copy_from_slice(bytes))
  }

  /// A new `Float64Array` holding a copy of `values`.
  pub fn float64_array(self, values: &[f64]) -> JsResult<Value> {
    let byte_len = std::mem::size_of_val(values);
    let mut data: *mut c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    check(unsafe { sys::napi_create_arraybuffer(self.0, byte_len, &mut data, &mut ab) }, "napi_create_arraybuffer")?;
    if byte_len > 0 {
      // SAFETY: the ArrayBuffer has `byte_len` bytes; an ArrayBuffer's backing store is suitably aligned.
      unsafe { ptr::copy_nonoverlapping(values.as_ptr() as *const u8, data as *mut u8, byte_len) };
    }
    let mut v = ptr::null_mut();
    let status = unsafe { sys::napi_create_typedarray(self.0, sys::NAPI_FLOAT64_ARRAY, values.len(), ab, 0, &mut v) };
    check(status, "napi_create_typedarray")?;
    Ok(v)
  }

  pub fn type_of(self, v: Value) -> JsResult<sys::napi_valuetype> {
    let mut t = 0;
    check(unsafe { sys::napi_typeof(self.0, v, &mut t) }, "napi_typeof")?;
    Ok(t)
  }

  pub fn get_f64(self, v: Value, what: &str) -> JsResult<f64> {
    if self.type_of(v)? != sys::NAPI_NUMBER {
      return Err(JsError::type_error(format!("{what} must be a number")));
    }
    let mut n = 0.0;
    check(unsafe { sys::napi_get_value_double(self.0, v, &mut n) }, "napi_get_value_double")?;
    Ok(n)
  }

  /// An integer argument: must be a number with no fractional part and inside the safe integer range.
  pub fn get_i64(self, v: Value, what: &str) -> JsResult<i64> {
    let n = self.get_f64(v, what)?;
    if n.fract() != 0.0 || n.abs() > 9_007_199_254_740_991.0 {
      return Err(JsError::type_error(format!("{what} must be a safe integer, got {n}")));
    }
    Ok(n as i64)
  }

  pub fn get_bool(self, v: Value, what: &str) -> JsResult<bool> {
    if self.type_of(v)? != sys::NAPI_BOOLEAN {
      return Err(JsError::type_error(format!("{what} must be a boolean")));
    }
    let mut b = false;
    check(unsafe { sys::napi_get_value_bool(self.0, v, &mut b) }, "napi_get_value_bool")?;
    Ok(b)
  }

  pub fn get_string(self, v: Value, what: &str) -> JsResult<String> {
    if self.type_of(v)? != sys::NAPI_STRING {
      return Err(JsError::type_error(format!("{what} must be a string")));
    }
    let mut len = 0usize;
    let status = unsafe { sys::napi_get_value_string_utf8(self.0, v, ptr::null_mut(), 0, &mut len) };
    check(status, "napi_get_value_string_utf8")?;
    let mut buf = vec![0u8; len + 1];
    let mut written = 0usize;
    let status =
      unsafe { sys::napi_get_value_string_utf8(self.0, v, buf.as_mut_ptr() as *mut c_char, buf.len(), &mut written) };
    check(status, "napi_get_value_string_utf8")?;
    buf.truncate(written);
    String::from_utf8(buf).map_err(|_| JsError::type_error(format!("{what} is not valid UTF-8")))
  }

  /// Borrows the bytes of a Buffer. The slice is valid only until the current native call returns.
  pub fn get_buffer<'a>(self, v: Value, what: &str) -> JsResult<&'a [u8]> {
    let mut is_buffer = false;
    check(unsafe { sys::napi_is_buffer(self.0, v, &mut is_buffer) }, "napi_is_buffer")?;
    if !is_buffer {
      return Err(JsError::type_error(format!("{what} must be a Buffer")));
    }
    let mut data: *mut c_void = ptr::null_mut();
    let mut len = 0usize;
    check(unsafe { sys::napi_get_buffer_info(self.0, v, &mut data, &mut len) }, "napi_get_buffer_info")?;
    if len == 0 || data.is_null() {
      return Ok(&[]);
    }
    // SAFETY: N-API guarantees `len` readable bytes at `data` for as long as the Buffer is alive, which is at
    // least the current call; callers must not keep the slice longer (see the module docs).
    Ok(unsafe { std::slice::from_raw_parts(data as *const u8, len) })
  }

  /// Reads an `Int32Array` argument into an owned vector.
  pub fn get_i32_array(self, v: Value, what: &str) -> JsResult<Vec<i32>> {
    let mut is_typed = false;
    check(unsafe { sys::napi_is_typedarray(self.0, v, &mut is_typed) }, "napi_is_typedarray")?;
    if !is_typed {
      return Err(JsError::type_error(format!("{what} must be an Int32Array")));
    }
    let mut kind = 0;
    let mut len = 0usize;
    let mut data: *mut c_void = ptr::null_mut();
    let mut ab = ptr::null_mut();
    let mut offset = 0usize;
    let status =
      unsafe { sys::napi_get_typedarray_info(self.0, v, &mut kind, &mut len, &mut data, &mut ab, &mut offset) };
    check(status, "napi_get_typedarray_info")?;
    if kind != sys::NAPI_INT32_ARRAY {
      return Err(JsError::type_error(format!("{what} must be an Int32Array")));
    }
    if len == 0 || data.is_null() {
      return Ok(Vec::new());
    }
    // SAFETY: an Int32Array of `len` elements; `data` already includes the byte offset.
    Ok(unsafe { std::slice::from_raw_parts(data as *const i32, len) }.to_vec())
  }

  pub fn get_property(self, object: Value, name: &str) -> JsResult<Value> {
    let cname = c_string(name);
    let mut v = ptr::null_mut();
    let status = unsafe { sys::napi_get_named_property(self.0, object, cname.as_ptr(), &mut v) };
    check(status, "napi_get_named_property")?;
    Ok(v)
  }

  /// `true` when the value is `undefined` or `null`.
  pub fn is_nullish(self, v: Value) -> JsResult<bool> {
    let t = self.type_of(v)?;
    Ok(t == sys::NAPI_UNDEFINED || t == sys::NAPI_NULL)
  }

  pub fn error_value(self, err: &JsError) -> JsResult<Value> {
    let code = self.string(&err.code)?;
    let msg = self.string(&err.message)?;
    let mut v = ptr::null_mut();
    check(unsafe { sys::napi_create_error(self.0, code, msg, &mut v) }, "napi_create_error")?;
    Ok(v)
  }

  fn throw(self, err: &JsError) {
    let mut pending = false;
    // SAFETY: plain N-API calls on the current env.
    unsafe {
      sys::napi_is_exception_pending(self.0, &mut pending);
      if pending {
        return;
      }
      let code = c_string(&err.code);
      let msg = c_string(&err.message);
      sys::napi_throw_error(self.0, code.as_ptr(), msg.as_ptr());
    }
  }

  /// Wraps `value` in a JS external that owns one strong reference; GC drops it.
  pub fn create_external<T: ExternalType>(self, value: Arc<T>) -> JsResult<Value> {
    let boxed = Box::new(Tagged { tag: T::TAG, value });
    let raw = Box::into_raw(boxed) as *mut c_void;
    let mut v = ptr::null_mut();
    let status =
      unsafe { sys::napi_create_external(self.0, raw, Some(finalize_external::<T>), ptr::null_mut(), &mut v) };
    if status != sys::NAPI_OK {
      // SAFETY: the external was not created, so we still own the box.
      drop(unsafe { Box::from_raw(raw as *mut Tagged<T>) });
      return Err(JsError::from_status("napi_create_external", status));
    }
    Ok(v)
  }

  /// Gets the `Arc<T>` behind an external made by [`Env::create_external`], checking its type tag.
  pub fn get_external<T: ExternalType>(self, v: Value, what: &str) -> JsResult<Arc<T>> {
    if self.type_of(v)? != sys::NAPI_EXTERNAL {
      return Err(JsError::type_error(format!("{what} must be a handle returned by this addon")));
    }
    let mut raw: *mut c_void = ptr::null_mut();
    check(unsafe { sys::napi_get_value_external(self.0, v, &mut raw) }, "napi_get_value_external")?;
    if raw.is_null() {
      return Err(JsError::type_error(format!("{what} is an empty handle")));
    }
    // Read the tag through the common prefix first: every external this addon makes starts with it.
    // SAFETY: `Tagged` is repr(C) with `tag` first; externals from other addons are refused by the tag check
    // only if they are at least 8 bytes, which is the best a tag can do.
    let tag = unsafe { *(raw as *const u64) };
    if tag != T::TAG {
      return Err(JsError::type_error(format!("{what} is a handle of another kind")));
    }
    // SAFETY: the tag matched, so this is a Tagged<T> we created and that GC has not finalized (it is reachable).
    let tagged = unsafe { &*(raw as *const Tagged<T>) };
    Ok(tagged.value.clone())
  }

  /// Runs `execute` on the libuv thread pool and settles the returned promise on the JS thread with `complete`.
  pub fn spawn_work<T, E, C>(self, name: &str, execute: E, complete: C) -> JsResult<Value>
  where
    T: Send + 'static,
    E: FnOnce() -> JsResult<T> + Send + 'static,
    C: FnOnce(Env, T) -> JsResult<Value> + 'static,
  {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(unsafe { sys::napi_create_promise(self.0, &mut deferred, &mut promise) }, "napi_create_promise")?;
    let task: Box<AsyncTask<T>> = Box::new(AsyncTask {
      deferred,
      work: ptr::null_mut(),
      execute: Some(Box::new(execute)),
      complete: Some(Box::new(complete)),
      result: None,
    });
    let raw = Box::into_raw(task);
    let resource_name = self.string(name)?;
    let mut work = ptr::null_mut();
    let status = unsafe {
      sys::napi_create_async_work(
        self.0,
        ptr::null_mut(),
        resource_name,
        execute_task::<T>,
        complete_task::<T>,
        raw as *mut c_void,
        &mut work,
      )
    };
    if status != sys::NAPI_OK {
      // SAFETY: the work was not created; reclaim the box. The promise stays pending and unreachable.
      drop(unsafe { Box::from_raw(raw) });
      return Err(JsError::from_status("napi_create_async_work", status));
    }
    // SAFETY: `raw` is alive until complete_task frees it; only this thread touches `work` before queueing.
    unsafe { (*raw).work = work };
    check(unsafe { sys::napi_queue_async_work(self.0, work) }, "napi_queue_async_work")?;
    Ok(promise)
  }

  /// Calls a JS function with `undefined` as `this`.
  pub fn call(self, func: Value, args: &[Value]) -> JsResult<Value> {
    let recv = self.undefined()?;
    let mut result = ptr::null_mut();
    let status = unsafe { sys::napi_call_function(self.0, recv, func, args.len(), args.as_ptr(), &mut result) };
    if status == sys::NAPI_PENDING_EXCEPTION {
      return Err(JsError::new("FERRYMQ_CALLBACK_THREW", "a JavaScript callback threw"));
    }
    check(status, "napi_call_function")?;
    Ok(result)
  }
}

/// Types that may cross the boundary as externals. `TAG` must be unique within this crate.
pub trait ExternalType: Send + Sync + 'static {
  const TAG: u64;
}

#[repr(C)]
struct Tagged<T> {
  tag: u64,
  value: Arc<T>,
}

unsafe extern "C" fn finalize_external<T: ExternalType>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  if !data.is_null() {
    // SAFETY: `data` is the Box<Tagged<T>> leaked by create_external; finalize runs exactly once.
    drop(Box::from_raw(data as *mut Tagged<T>));
  }
}

type ExecuteFn<T> = Box<dyn FnOnce() -> JsResult<T> + Send>;
type CompleteFn<T> = Box<dyn FnOnce(Env, T) -> JsResult<Value>>;

struct AsyncTask<T> {
  deferred: sys::napi_deferred,
  work: sys::napi_async_work,
  execute: Option<ExecuteFn<T>>,
  complete: Option<CompleteFn<T>>,
  result: Option<JsResult<T>>,
}

unsafe extern "C" fn execute_task<T>(_env: sys::napi_env, data: *mut c_void) {
  // SAFETY: `data` is the AsyncTask; the pool thread is the only one touching `execute` and `result` now.
  let task = &mut *(data as *mut AsyncTask<T>);
  if let Some(execute) = task.execute.take() {
    let outcome = catch_unwind(AssertUnwindSafe(execute))
      .unwrap_or_else(|_| Err(JsError::new("FERRYMQ_PANIC", "native work panicked")));
    task.result = Some(outcome);
  }
}

unsafe extern "C" fn complete_task<T>(env: sys::napi_env, status: sys::napi_status, data: *mut c_void) {
  // SAFETY: back on the JS thread; the box is ours again and freed at the end of this function.
  let mut task = Box::from_raw(data as *mut AsyncTask<T>);
  let env = Env(env);
  let outcome = match (status, task.result.take()) {
    (sys::NAPI_OK, Some(Ok(value))) => match task.complete.take() {
      Some(complete) => catch_unwind(AssertUnwindSafe(|| complete(env, value)))
        .unwrap_or_else(|_| Err(JsError::new("FERRYMQ_PANIC", "native completion panicked"))),
      None => Err(JsError::new("FERRYMQ_NAPI", "async work completed twice")),
    },
    (sys::NAPI_OK, Some(Err(e))) => Err(e),
    (_, _) => Err(JsError::from_status("async work", status)),
  };
  match outcome {
    Ok(value) => {
      sys::napi_resolve_deferred(env.0, task.deferred, value);
    }
    Err(e) => {
      if let Ok(err) = env.error_value(&e) {
        sys::napi_reject_deferred(env.0, task.deferred, err);
      }
    }
  }
  sys::napi_delete_async_work(env.0, task.work);
}

/// Reads the arguments of one call.
pub struct Args {
  env: Env,
  argv: [Value; ARGS_MAX],
  argc: usize,
}

impl Args {
  pub fn env(&self) -> Env {
    self.env
  }

  pub fn get(&self, i: usize) -> Value {
    if i < self.argc.min(ARGS_MAX) {
      self.argv[i]
    } else {
      ptr::null_mut()
    }
  }

  pub fn i64(&self, i: usize, what: &str) -> JsResult<i64> {
    self.env.get_i64(self.get(i), what)
  }

  /// An integer argument that must fit a Java int (queue ids, levels).
  pub fn i32(&self, i: usize, what: &str) -> JsResult<i32> {
    let n = self.i64(i, what)?;
    i32::try_from(n).map_err(|_| JsError::type_error(format!("{what} must fit in 32 bits, got {n}")))
  }

  pub fn string(&self, i: usize, what: &str) -> JsResult<String> {
    self.env.get_string(self.get(i), what)
  }

  pub fn buffer(&self, i: usize, what: &str) -> JsResult<&[u8]> {
    self.env.get_buffer(self.get(i), what)
  }

  pub fn external<T: ExternalType>(&self, i: usize, what: &str) -> JsResult<Arc<T>> {
    self.env.get_external(self.get(i), what)
  }
}

/// One exported function: its JS name, the number of arguments it requires, and the implementation.
pub struct Export {
  pub name: &'static str,
  pub arity: usize,
  pub func: fn(&Args) -> JsResult<Value>,
}

unsafe extern "C" fn trampoline(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let env = Env(env);
  let mut argv: [Value; ARGS_MAX] = [ptr::null_mut(); ARGS_MAX];
  let mut argc = ARGS_MAX;
  let mut data: *mut c_void = ptr::null_mut();
  let status = sys::napi_get_cb_info(env.0, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data);
  if status != sys::NAPI_OK || data.is_null() {
    env.throw(&JsError::from_status("napi_get_cb_info", status));
    return ptr::null_mut();
  }
  // SAFETY: `data` is the &'static Export registered with this function.
  let export = &*(data as *const Export);
  if argc < export.arity {
    let message = format!("{}() takes {} arguments, got {}", export.name, export.arity, argc);
    env.throw(&JsError::type_error(message));
    return ptr::null_mut();
  }
  let args = Args { env, argv, argc };
  let outcome = catch_unwind(AssertUnwindSafe(|| (export.func)(&args)))
    .unwrap_or_else(|_| Err(JsError::new("FERRYMQ_PANIC", format!("{}() panicked", export.name))));
  match outcome {
    Ok(v) => v,
    Err(e) => {
      env.throw(&e);
      ptr::null_mut()
    }
  }
}

/// Defines every export on `exports`, plus `__arity`: `{ name: arity }` so tests can compare the table with
/// the TypeScript declaration.
///
/// # Safety
/// `env` and `exports` must be the values Node passed to the module's register function.
pub unsafe fn register(env: sys::napi_env, exports: sys::napi_value, table: &'static [Export]) -> JsResult<()> {
  let env = Env(env);
  let arity = env.object()?;
  for export in table {
    let name = c_string(export.name);
    let mut func = ptr::null_mut();
    let data = export as *const Export as *mut c_void;
    let status = sys::napi_create_function(env.0, name.as_ptr(), export.name.len(), trampoline, data, &mut func);
    check(status, "napi_create_function")?;
    env.set(exports, export.name, func)?;
    env.set_number(arity, export.name, export.arity as f64)?;
  }
  env.set(exports, "__arity", arity)
}

/// Called on the JS thread with each batch of events before JavaScript sees it; returns how many pending items
/// the batch completed (see [`EventChannel::add_pending`]).
pub type DeliverHook = Box<dyn Fn(Env, &[f64]) -> usize + Send + Sync>;

/// Numeric events posted from native threads and delivered, in order and in batches, to one JS callback as a
/// `Float64Array`. Posting never blocks on JavaScript: events accumulate until the JS thread takes them.
///
/// The channel keeps Node alive only while it has pending items (work whose completion event is still to come).
pub struct EventChannel {
  tsfn: AtomicPtr<sys::napi_threadsafe_function__>,
  state: Mutex<EventState>,
  hook: DeliverHook,
  /// Pending items; touched on the JS thread only, atomic so the channel is `Sync`.
  pending: AtomicUsize,
}

struct EventState {
  events: Vec<f64>,
  /// A wake-up call is queued and has not run yet, so posting only needs to append.
  signaled: bool,
  /// The channel has been closed; later posts are dropped.
  closed: bool,
}

impl EventChannel {
  /// Creates the channel on the JS thread.
  pub fn new(env: Env, callback: Value, name: &str, hook: DeliverHook) -> JsResult<Arc<EventChannel>> {
    let channel = Arc::new(EventChannel {
      tsfn: AtomicPtr::new(ptr::null_mut()),
      state: Mutex::new(EventState { events: Vec::new(), signaled: false, closed: false }),
      hook,
      pending: AtomicUsize::new(0),
    });
    let resource_name = env.string(name)?;
    let context = Arc::into_raw(channel.clone()) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    let status = unsafe {
      sys::napi_create_threadsafe_function(
        env.0,
        callback,
        ptr::null_mut(),
        resource_name,
        0,
        1,
        context,
        Some(finalize_channel),
        context,
        Some(deliver_events),
        &mut tsfn,
      )
    };
    if status != sys::NAPI_OK {
      // SAFETY: the finalizer will never run; drop the reference we leaked for it.
      drop(unsafe { Arc::from_raw(context as *const EventChannel) });
      return Err(JsError::from_status("napi_create_threadsafe_function", status));
    }
    channel.tsfn.store(tsfn, Ordering::Release);
    unsafe { sys::napi_unref_threadsafe_function(env.0, tsfn) };
    Ok(channel)
  }

  fn tsfn(&self) -> sys::napi_threadsafe_function {
    self.tsfn.load(Ordering::Acquire)
  }

  fn lock(&self) -> std::sync::MutexGuard<'_, EventState> {
    match self.state.lock() {
      Ok(s) => s,
      Err(poisoned) => poisoned.into_inner(),
    }
  }

  /// Appends one event (any thread). Wakes the JS thread unless a wake-up is already pending.
  pub fn post(&self, event: &[f64]) {
    let wake = {
      let mut state = self.lock();
      if state.closed {
        return;
      }
      state.events.extend_from_slice(event);
      let wake = !state.signaled;
      state.signaled = true;
      wake
    };
    if wake {
      // A failed call means Node is shutting down; the events can no longer be delivered to anyone.
      unsafe { sys::napi_call_threadsafe_function(self.tsfn(), ptr::null_mut(), sys::NAPI_TSFN_NONBLOCKING) };
    }
  }

  /// Takes every pending event (JS thread).
  fn take(&self) -> Vec<f64> {
    let mut state = self.lock();
    state.signaled = false;
    std::mem::take(&mut state.events)
  }

  /// One more item will complete through an event: keep Node alive until it does (JS thread).
  pub fn add_pending(&self, env: Env) {
    if self.pending.fetch_add(1, Ordering::AcqRel) == 0 {
      unsafe { sys::napi_ref_threadsafe_function(env.0, self.tsfn()) };
    }
  }

  fn complete_pending(&self, env: Env, n: usize) {
    let before = self.pending.load(Ordering::Acquire);
    let n = n.min(before);
    if n == 0 {
      return;
    }
    self.pending.store(before - n, Ordering::Release);
    if before == n {
      unsafe { sys::napi_unref_threadsafe_function(env.0, self.tsfn()) };
    }
  }

  /// Stops delivery and releases the threadsafe function (JS thread, once).
  pub fn close(&self) {
    let first = {
      let mut state = self.lock();
      let first = !state.closed;
      state.closed = true;
      state.events.clear();
      first
    };
    if first {
      unsafe { sys::napi_release_threadsafe_function(self.tsfn(), sys::NAPI_TSFN_RELEASE) };
    }
  }
}

unsafe extern "C" fn deliver_events(
  env: sys::napi_env,
  callback: sys::napi_value,
  context: *mut c_void,
  _: *mut c_void,
) {
  if env.is_null() || callback.is_null() || context.is_null() {
    return; // Node is tearing the function down; nobody is listening.
  }
  // SAFETY: `context` is the Arc<EventChannel> leaked in new(); it stays alive until finalize_channel.
  let channel = &*(context as *const EventChannel);
  let env = Env(env);
  let events = channel.take();
  if events.is_empty() {
    return;
  }
  let completed = catch_unwind(AssertUnwindSafe(|| (channel.hook)(env, &events))).unwrap_or(0);
  if let Ok(array) = env.float64_array(&events) {
    // An exception thrown by the callback is reported by Node as an uncaught exception; nothing to add here.
    let _ = env.call(callback, &[array]);
  }
  channel.complete_pending(env, completed);
}

unsafe extern "C" fn finalize_channel(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  if !data.is_null() {
    // SAFETY: the reference leaked in new() for the threadsafe function's lifetime.
    drop(Arc::from_raw(data as *const EventChannel));
  }
}

/// A `napi_ref` that may be stored in `Send + Sync` structures; it is only ever used on the JS thread.
pub struct JsRef(sys::napi_ref);

// SAFETY: created and deleted on the JS thread only (documented at every use).
unsafe impl Send for JsRef {}
unsafe impl Sync for JsRef {}

impl JsRef {
  /// Holds `value` alive until [`JsRef::delete`].
  pub fn new(env: Env, value: Value) -> JsResult<JsRef> {
    let mut r = ptr::null_mut();
    check(unsafe { sys::napi_create_reference(env.0, value, 1, &mut r) }, "napi_create_reference")?;
    Ok(JsRef(r))
  }

  pub fn delete(self, env: Env) {
    unsafe { sys::napi_delete_reference(env.0, self.0) };
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn c_string_replaces_interior_nul() {
    assert_eq!(c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    assert_eq!(c_string("plain").to_str().unwrap(), "plain");
  }

  #[test]
  fn check_maps_status_to_stable_code() {
    assert!(check(sys::NAPI_OK, "x").is_ok());
    let err = check(9, "napi_thing").unwrap_err();
    assert_eq!(err.code, "FERRYMQ_NAPI");
    assert!(err.message.contains("napi_thing"));
    assert!(err.message.contains('9'));
  }

  #[test]
  fn tagged_layout_puts_the_tag_first() {
    struct Probe;
    impl ExternalType for Probe {
      const TAG: u64 = 0xfeed;
    }
    let t = Tagged { tag: Probe::TAG, value: Arc::new(Probe) };
    let p = &t as *const Tagged<Probe> as *const u64;
    assert_eq!(unsafe { *p }, 0xfeed);
  }
}
