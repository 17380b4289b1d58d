# lunghub's English texts. Every message here is in it.ftl too, with the same variables:
# the i18n unit tests fail otherwise. Write for a doctor with no time: short, plain words.

## The page shell

nav-help = How to help
nav-hospitals = Hospitals
nav-datasets = Datasets
nav-tracks = Working tracks
nav-challenges = Challenges
nav-partners = Partners
nav-news = News
nav-news-desk = News desk
nav-onboarding = Onboarding
nav-upload = Send images
nav-review = Review
nav-try-model = Try the model
nav-model-card = Model card
nav-admin = Admin
nav-sign-in = Sign in
nav-sign-out = Sign out
footer-mission = lunghub is run by volunteers fighting COVID-19 with medical imaging. Images are de-identified before they are stored; no patient identity is ever published.
footer-updates = Get updates
back-home = Back to the home page
lang-unknown = This language is not offered. Choose English or Italiano.

## Dates and counts

date-long = { $day } { $month } { $year }
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
days-ago =
    { $days ->
        [0] today
        [one] 1 day ago
       *[other] { $days } days ago
    }
count-institutes =
    { $count ->
        [one] 1 institute
       *[other] { $count } institutes
    }
count-members =
    { $count ->
        [one] 1 member
       *[other] { $count } members
    }

## Errors

error-not-found = Not found
error-no-such-page = There is no such page.
error-no-such-thing = There is no such { $detail }.
error-conflict = Conflict
error-detail = { $detail }
error-internal = Something went wrong
error-internal-text = The server could not complete the request. It has been logged.
error-bad-request = Bad request
error-forbidden = Not allowed
error-forbidden-text = Your account may not open this page. If you think it should, ask a coordinator.
error-other-site = Not from this site
error-other-site-text = This request came from a page of another site. Nothing was changed.
error-form-expired = Form expired
error-form-expired-text = This form was not sent from a page of this site, or it has expired. Go back, reload the page and send it again. Nothing was changed.
too-many-title = Too many { $what }
too-many-text = This network sent more { $what } in the last hour than lunghub takes. Try again in an hour.
too-many-requests = Too many requests
quota-sign-ups = sign-ups
quota-requests = requests

## Forms

form-problems = Please correct the following:
form-optional = (optional)
problem-required = { $label } is required.
problem-too-long = { $label } is too long: at most { $max } characters.
problem-characters = { $label } contains characters that are not allowed.
problem-email = Email must be a valid address, like name@hospital.org.
problem-password-short = The password must have at least 10 characters.
problem-password-long = The password is too long: at most 256 characters.
problem-passwords-differ = The two passwords differ.

## Home

home-title = Open medical imaging against COVID-19
home-lead = We are volunteers — doctors, data scientists and engineers — building open, de-identified datasets of chest X-rays and lung ultrasound from hospitals, and diagnostic models that anyone can check. Hospitals with lunghub's gateway de-identify every image inside the hospital, under a key that never leaves it, and send only the de-identified copy; images sent to our server directly are de-identified as they arrive, in memory, before anything is stored, under a key of their hospital's own. Either way names and identifiers are never kept, images that may show them in their pixels are held back for review, and one hospital's patients never mix with another's.
home-how-to-help = See how you can help
home-hospitals = Hospitals
home-hospitals-text =
    { $count ->
        [one] 1 institute
       *[other] { $count } institutes
    } on board, { $available } with a dataset available.
home-hospitals-link = Onboarding status
home-tracks = Working tracks
home-tracks-text = Imaging, outbreak statistics, clinical data, drug impact and maker equipment.
home-tracks-link = Join a track
home-partners = Partners and contributors
home-partners-text = The companies and people who make the work possible.
home-partners-link = Who we are
home-updates = Updates
home-updates-text = News of datasets and results, now and then. Unsubscribe with one click.
home-updates-link = Subscribe
home-developers = For developers
home-developers-text = A JSON API, described in OpenAPI.
home-developers-link = OpenAPI document

## How to help and sign-up

help-title = How you can help
help-lead = Choose what describes you best. We only ask what we need to work with you.
help-sign-up-as = Sign up as { $role }
help-subscribe = Subscribe to updates
role-frontline-doctor = Frontline doctor
role-frontline-doctor-pitch = Tell us what you see on the wards, point us to the images that matter, and help your hospital share de-identified X-rays and ultrasound.
role-medical-personnel = Doctor or medical personnel
role-medical-personnel-pitch = Review and label images, check that models make clinical sense, and help write the protocols our hospitals follow.
role-data-scientist = Data scientist
role-data-scientist-pitch = Work on the open datasets, join a working track, and compare models on sequestered test sets.
role-technology-company = Technology company
role-technology-company-pitch = Offer compute, storage, tools or engineering time, and be listed among our partners if you wish.
role-developer = Developer
role-developer-pitch = Build the platform with us: intake, de-identification, the web site and the model pipeline.
role-communication-specialist = Communication or media specialist
role-communication-specialist-pitch = Help us explain the work to hospitals, volunteers and the public, in more languages.
role-interested = Just interested
role-interested-pitch = Get our updates by email. Unsubscribe with one click at any time.
question-institution = Hospital or institution
question-location = City and country
question-specialty = Specialty
question-profession = Profession (radiologist, nurse, …)
question-affiliation = Affiliation
question-profile = Link to your work (GitHub, Scholar)
question-company = Company
question-website = Website
question-offer = What you can offer
question-skills = Languages and skills
question-organisation = Organisation or outlet
question-languages = Languages you work in
join-title = Sign up: { $role }
join-name = Your name
join-email = Email
join-password = Password
join-password-hint = (at least 10 characters)
join-password-again = Password again
join-list-partner = List me publicly as a partner
join-list-contributor = List me publicly as a contributor
join-list-hint = (after the admin approves it; you can withdraw it from your account page)
join-subscribe = Send me updates by email
join-submit = Sign up
join-sent = We sent a confirmation link to { $email }. Open it to confirm your address, then sign in.
check-email = Check your email
confirmed-title = Email confirmed
confirmed-text = Thank you. Your address is confirmed.
link-dead-title = This link does not work
link-dead-confirm = The confirmation link is unknown, already used, or expired. Sign up again to get a new one.
link-dead-text = It is unknown, already used, or expired.
link-expired = Link expired

## Sign-in

signin-forgot = Forgot your password?
signin-wrong = The email or the password is wrong.
signin-unconfirmed = Confirm your email first: open the link we sent you when you signed up.
signin-too-many-network = Too many failed attempts from this network. Wait 15 minutes, or reset your password.
signin-too-many-account = Too many failed attempts on this account: one try every { $every } seconds now. Try again in { $wait } seconds, or reset your password.

## Subscriptions

subscribe-lead = News of datasets, results and calls for help, a few times a month at most. Every message has a one-click unsubscribe link.
subscribe-sent = If { $email } is not subscribed yet, we sent it a link to confirm.
subscribed-title = Subscribed
subscribed-text = You will get our updates at { $email }.
unsubscribe-title = Unsubscribe
unsubscribe-ask = Stop lunghub's news to { $email }?
not-subscribed-title = Not subscribed
not-subscribed-text = { $email } gets no updates from us.
subscribe-again = Subscribe again
unknown-link = Unknown link
unknown-unsubscribe = This unsubscribe link is not known.
unsubscribed-title = Unsubscribed
unsubscribed-text = { $email } will get no more updates from us.

## Partners and tracks

partners-lead = Listed here at their request, approved by the admin. Anyone listed can withdraw from their account page.
partners-partners = Partners
partners-none = No partner listed yet.
partners-contributors = Contributors
contributors-none = No contributor listed yet.
tracks-lead = Where volunteers share and compare their work. Each track has a coordinator, or needs one.
track-coordinator = Coordinator:
track-coordinator-required = Coordinator required
track-member = You are a member of this track.
track-offered = You offered to coordinate this track.
track-leave = Leave
track-join = Join
track-offer = Offer to coordinate
track-sign-in = Sign in to join
track-results-posts = Results posts
track-public-auc = public ROC AUC { $auc }
track-medical-imaging = Medical imaging
track-medical-imaging-summary = Chest X-ray and lung ultrasound models: datasets, training, evaluation on sequestered test sets.
track-outbreak-statistics = Statistical outbreak analysis
track-outbreak-statistics-summary = Models of the spread of the outbreak from public case data.
track-clinical-correlation = Clinical data correlation
track-clinical-correlation-summary = How clinical fields (age, comorbidities, days since onset) relate to imaging findings and outcome.
track-drug-impact = Drug impact analysis
track-drug-impact-summary = What the therapies recorded with the images tell about outcome, with the caution observational data needs.
track-maker-equipment = Maker equipment
track-maker-equipment-summary = Open designs for equipment hospitals run short of, checked by clinicians.

## The onboarding status table

status-title = Hospital onboarding status
status-lead = Where each hospital stands on its way to sharing de-identified images. Updated live by our coordinators.
status-all = All
status-filter = Filter
status-also-as = also as
status-none = No institute matches.
status-col-institute = Institute
status-col-location = Location
status-col-requested = Requested data
status-col-status = Status
status-col-updated = Last update
stage-first-contact = First contact
stage-introductory-call = Introductory call
stage-data-request-sent = Project description and data request sent
stage-ethics-approval = Ethical committee approval
stage-waiting-for-data = Waiting for data
stage-data-received = Data received
stage-dataset-available = Dataset available
requested-xray-healthy = X-ray healthy
requested-xray-pneumonia = X-ray pneumonia
requested-xray-covid = X-ray COVID-19
requested-ultrasound-lung = Ultrasound lung
requested-ultrasound-cardiac = Ultrasound cardiac

## News

news-lead = What the group and its hospitals are doing.
news-by-email = Get it by email
news-feed = Atom feed
news-write = Write a post
news-none = Nothing published yet.
news-draft = Draft, not published

## Mail

mail-confirm-subject = Confirm your email for lunghub
mail-confirm-body =
    Hello { $name },

    Thank you for signing up as { $role }. Confirm your email by opening this link (valid 48 hours):

    { $link }

    If you did not sign up, ignore this message.
mail-signup-again-subject = Someone tried to sign up with your email
mail-signup-again-body =
    Someone (perhaps you) tried to sign up for lunghub with this address, which already has an account.

    Sign in: { $signin }
    Forgot your password? { $reset }
mail-subscribe-subject = Confirm your lunghub subscription
mail-subscribe-body =
    Confirm that you want lunghub's updates:

    { $confirm }

    Unsubscribe at any time, with one click:

    { $unsubscribe }
mail-news-body =
    { $title }

    { $text }

    Read it online: { $online }

    -- 
    You get this because you subscribed to lunghub's news. Unsubscribe with one click: { $unsubscribe }

## Datasets and challenges

releases-title = Open datasets
releases-lead = Chest X-rays and lung ultrasound from the hospitals and collections that joined, de-identified, reviewed, and split by patient into train, validation and test. Each release is frozen: its files never change, and a later version says what changed. Test findings stay on the server, for the leaderboard.
releases-create = Create a release
releases-none = No dataset has been released yet.
releases-col-release = Release
releases-col-files = Files
releases-col-size = Size
releases-col-released = Released
challenges-lead = Compare models on the sequestered test split of an open dataset. Scores are computed here, against labels nobody outside can see.
challenges-none = No challenge is open yet.
challenges-col-challenge = Challenge
challenges-col-track = Track
challenges-col-dataset = Dataset
challenges-col-task = Task
challenges-col-state = State
challenges-col-closes = Closes
model-card-in-english = The model card is a technical document and is written in English.
challenge-state-open = open
challenge-state-closed = closed
challenge-state-opens-soon = opens soon

## Sending images

cause-burned-in-text = The image may have the patient's name or other details written into the picture itself, so it was not kept.
cause-burned-in-text-next = If the picture shows no text, export it again with the Burned In Annotation field set to NO. If it does, ask the coordinators to add a blanking rule for this machine; until then, do not send images from it.
cause-cleaning-failed = The text written into the picture could not be blanked out, so the image was not kept.
cause-cleaning-failed-next = Send the technical detail below to the coordinators. Do not send this image another way.
cause-gateway-leak = This file came from your hospital's gateway marked as anonymous, but it still carries details that identify the patient. It was not kept.
cause-gateway-leak-next = Stop sending from the gateway and tell your hospital IT and the coordinators today: the gateway's settings need checking.
cause-dicomdir = This is the index file of a CD or folder (DICOMDIR), not an image.
cause-dicomdir-next = Send the image files in the folders next to it instead (or a zip of the whole disc).
cause-not-an-image = This DICOM file does not say what kind of image it is, so it cannot be used.
cause-not-an-image-next = Export the image again from the PACS or the machine. If this keeps happening, send the technical detail below to the coordinators.
cause-unknown-format = This is not an image lunghub can read: send DICOM, PNG, JPEG or an ultrasound video.
cause-unknown-format-next = Check that you picked the image files. Reports, PDFs and office documents are not taken.
cause-needs-web-upload = The gateway sends DICOM images only, and this is a PNG or JPEG picture.
cause-needs-web-upload-next = Send it from the lunghub website instead (Send images), where pictures are taken.
cause-damaged = The file is damaged or incomplete.
cause-damaged-next = Send it again. If it fails again, export it again from the PACS or the machine.
cause-unsupported-compression = The image is compressed in a format lunghub cannot open yet.
cause-unsupported-compression-next = Export it uncompressed (Explicit VR Little Endian) or as JPEG, and send it again.
cause-too-large = The file is larger than lunghub accepts in one piece.
cause-too-large-next = Send the study's images one by one, or in several smaller zips.
cause-unsafe-archive-entry = This part of the zip could not be unpacked safely: it is protected by a password, far too large once unpacked, or points outside the zip.
cause-unsafe-archive-entry-next = Unzip it on your computer and send the files themselves, or make a new zip without a password.
cause-bad-labels = The labels sent with this file could not be read.
cause-bad-labels-next = Check this file's row in the metadata CSV (its finding and dates), then send it again.
cause-server-side = lunghub could not store this file. This is a problem on our side, not yours.
cause-server-side-next = Nothing to change on your side: try again later. If it keeps failing, tell the coordinators.
upload-no-site = Your account is not bound to a site yet. Ask a coordinator to bind it.
upload-where = Files sent here travel to lunghub's server as they are, identity included, over this page's connection, and are de-identified there, in memory, under your site's own key, before anything is stored: originals with identity are never kept. To keep identity inside the hospital, send through
upload-gateway = instead, which de-identifies at the hospital.
upload-labels = Labels set here apply to every file of the batch; a CSV sidecar sets them per file, with these columns:
upload-site = Site
upload-finding = Finding for every file (leave empty to label per file or in review)
upload-finding-none = — none —
upload-modality = Modality
upload-from-files = — from the files —
upload-modality-dx = X-ray (DX/CR)
upload-modality-us = Ultrasound (US)
upload-view = View
upload-sex = Sex
upload-age = Age (years)
upload-sidecar = CSV sidecar (optional)
upload-start = Start a batch
upload-recent = Recent batches
upload-started = Started
upload-files = Files
upload-batch-title = Batch { $batch } for { $site }
upload-batch-started = Started { $date }.
upload-finding-short = Finding:
upload-per-file = per file
upload-modality-short = modality:
upload-view-short = view:
upload-from-files-short = from the files
upload-sidecar-labels =
    { $count ->
        [one] The CSV sidecar labels 1 file.
       *[other] The CSV sidecar labels { $count } files.
    }
upload-drop = Drop files, folders or zip archives here
upload-or-choose = or choose them:
upload-pick-files = Files or zip archives
upload-pick-folder = A whole folder
upload-send = Send
upload-resume = Files already recorded in this batch are skipped, so an interrupted upload can be sent again as a whole.
upload-limit = Each file may be at most { $mib } MiB.
upload-in-batch = Files in this batch
upload-none-yet = None yet.
upload-col-file = File
upload-col-progress = Progress
upload-col-outcome = Outcome
upload-name-not-kept = The file's name is not kept here; this browser shows it if it sent the file
upload-technical-detail = Technical detail
upload-progress-sent = { $finished } of { $total } sent
upload-progress-skipped = , { $skipped } already in this batch
upload-progress-failed = , { $failed } failed: send them again
upload-nothing-sent = Nothing was sent: { $why }. Reload the page and try again.
upload-already-here = already in this batch
upload-larger-than = larger than { $size }
upload-retrying = { $why }, attempt { $attempt } of { $of }
upload-form-unreadable = The form could not be read: { $why }
upload-sidecar-unreadable = The sidecar could not be read: { $why }
upload-choose-site = Choose one of your sites.
upload-not-yet = Not yet: { $why }.
upload-bad-age = Age must be a number of years between 0 and 120.
outcome-new = new
outcome-duplicate = duplicate
outcome-near-duplicate = near-duplicate
outcome-quarantined = quarantined
outcome-unreadable = unreadable
outcome-sidecar = sidecar
outcome-unpacked = unpacked
outcome-refused = refused
outcome-waiting = waiting
outcome-sending = sending
outcome-retrying = retrying

## Invitations

account-role-admin = admin
account-role-coordinator = coordinator
account-role-reviewer = medical reviewer
account-role-uploader = hospital uploader
account-role-data-scientist = data scientist
account-role-member = member
mail-invite-subject = You are invited to lunghub
mail-invite-body =
    Hello { $name },

    { $admin } invited you to lunghub, the volunteers' open medical imaging platform against COVID-19, as { $role }.

    Choose your password with this link (valid for a week); it also confirms your address:

    { $link }

    If you do not know why you got this, ignore it: without a password the account cannot be used.
